# The Ruby launcher of the embedded OpenWhisk (driven by java_ruby_proxy.py, actionloop style).
#
# Usage: ruby ruby_launcher.rb. Boots, then reads {"init": {"dir", "main", "env"}} on stdin, loads DIR/main.rb
# and answers {"ok":true} on the result fd ($__OW_RESULT_FD, fd 3 in OpenWhisk's actionloop) or
# {"error": ...}; then for every JSON line on stdin: sets
# __OW_<KEY> env vars for the keys other than "value", calls MAIN(value), flushes stdout/stderr and writes
# the result as one JSON line. An exception is the line "!Invalid Action: An error occurred running the action"
# (backtrace on stderr), which the proxy answers with 502: a developer error, as OpenWhisk's ruby:2.5 runtime
# answers it; a result that is not a Hash or Array is refused by the proxy (502), as that runtime does.
require 'json'

OOM_MARKER = 'MemoryError: the action exhausted its memory limit'
out = IO.new(Integer(ENV.fetch('__OW_RESULT_FD', '3')), 'w')
out.sync = true
$stdout.sync = true
$stderr.sync = true
# booted before the action is known (a stem cell): the first line is {"init": {"dir", "main", "env"}}
init = JSON.parse($stdin.gets || exit(0))['init']
entry = init['main'] || 'main'
init['env'].each { |key, value| ENV[key] = value }
Dir.chdir(init['dir'])
$LOAD_PATH.unshift(init['dir'])
begin
  load File.join(init['dir'], 'main.rb')
  raise NameError, "the action has no method '#{entry}'; define def #{entry}(args) ... end" unless respond_to?(entry, true)
rescue Exception => e # rubocop:disable Lint/RescueException
  warn "#{e.class}: #{e.message}"
  warn e.backtrace.join("\n") if e.backtrace
  out.puts(JSON.generate({ 'error' => "#{e.class}: #{e.message}" }))
  exit 1
end
out.puts('{"ok":true}')

while (line = $stdin.gets)
  begin
    request = JSON.parse(line)
  rescue JSON::ParserError => e
    out.puts(JSON.generate({ 'error' => "Error unmarshaling request: #{e.message}" }))
    next
  end
  request.each { |key, value| ENV["__OW_#{key.upcase}"] = value.is_a?(String) ? value : JSON.generate(value) unless key == 'value' }
  failed = false
  begin
    result = send(entry, request['value'] || {})
  rescue NoMemoryError
    warn OOM_MARKER
    exit! 137
  rescue Exception => e # rubocop:disable Lint/RescueException
    warn "#{e.class}: #{e.message}"
    warn e.backtrace.join("\n") if e.backtrace
    failed = true
  end
  $stdout.flush
  $stderr.flush
  out.puts(failed ? '!Invalid Action: An error occurred running the action' : JSON.generate(result))
end
