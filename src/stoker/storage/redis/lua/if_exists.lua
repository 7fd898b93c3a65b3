-- ARGV: prefix, guard key, command, its arguments... Runs the command only if the guard key
-- exists, so that progress, log lines or errors never resurrect a removed job or definition.
if redis.call('EXISTS', ARGV[2]) == 0 then
  return 0
end
redis.call(ARGV[3], unpack(ARGV, 4))
return 1
