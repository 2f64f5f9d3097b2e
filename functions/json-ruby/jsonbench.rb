# JSON microbenchmark (Ruby twin of json-python): generate items records, serialise+parse rounds times.
require 'json'

MAX_ITEMS = 200_000
MAX_ROUNDS = 1_000

def bad(name, value, allowed)
  { 'error' => "parameter '#{name}' is #{value.inspect}; #{allowed}" }
end

def make_document(items)
  coordinates = (0...items).map do |i|
    { 'id' => i, 'name' => "item-#{i}", 'x' => i * 37 % 1000, 'y' => i * 91 % 1000, 'z' => i * 13 % 1000,
      'tags' => ["t#{i % 7}", "t#{i % 11}"] }
  end
  { 'coordinates' => coordinates }
end

def main(args)
  items = args.fetch('items', 1000)
  rounds = args.fetch('rounds', 1)
  return bad('items', items, "use an integer from 0 to #{MAX_ITEMS}") unless items.is_a?(Integer) && items.between?(0, MAX_ITEMS)
  return bad('rounds', rounds, "use an integer from 1 to #{MAX_ROUNDS}") unless rounds.is_a?(Integer) && rounds.between?(1, MAX_ROUNDS)

  document = make_document(items)
  text = ''
  parsed = {}
  rounds.times do
    text = JSON.generate(document)
    parsed = JSON.parse(text)
  end
  coords = parsed['coordinates']
  sums = %w[x y z].to_h { |axis| [axis, coords.sum { |c| c[axis] }] }
  { 'items' => coords.length, 'bytes' => text.bytesize, 'rounds' => rounds, 'sums' => sums }
end
