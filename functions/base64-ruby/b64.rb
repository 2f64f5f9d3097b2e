# base64 microbenchmark (Ruby twin of base64-python): encode then decode text*repeat, rounds times.
require 'base64'

MAX_BYTES = 512 * 1024
MAX_ROUNDS = 100_000

def bad(name, value, allowed)
  { 'error' => "parameter '#{name}' is #{value.inspect}; #{allowed}" }
end

def main(args)
  text = args.fetch('text', 'Hello, OpenWhisk!')
  repeat = args.fetch('repeat', 1)
  rounds = args.fetch('rounds', 1)
  return bad('text', text, 'use a string') unless text.is_a?(String)
  return bad('repeat', repeat, 'use an integer >= 1') unless repeat.is_a?(Integer) && repeat >= 1
  return bad('rounds', rounds, "use an integer from 1 to #{MAX_ROUNDS}") unless rounds.is_a?(Integer) && rounds.between?(1, MAX_ROUNDS)

  payload = (text * repeat).encode('UTF-8')
  return bad('text', "<#{payload.bytesize} bytes after repeat>", "keep text * repeat under #{MAX_BYTES} bytes") if payload.bytesize > MAX_BYTES

  encoded = ''
  decoded = payload
  rounds.times do
    encoded = Base64.strict_encode64(payload)
    decoded = Base64.strict_decode64(encoded).force_encoding('UTF-8')
  end
  { 'decoded' => decoded, 'length' => payload.bytesize, 'encoded_length' => encoded.bytesize, 'rounds' => rounds }
end
