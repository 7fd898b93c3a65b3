-- ARGV: prefix, recurring id, paused (1/0), next_run (or ""). 1 if the recurring job exists.
local rid, paused, next_run = ARGV[2], ARGV[3], ARGV[4]
local rk = P .. ':recurring:' .. rid
if redis.call('EXISTS', rk) == 0 then
  return 0
end
redis.call('HSET', rk, 'paused', paused)
if next_run ~= '' then
  redis.call('HSET', rk, 'next_run', next_run)
else
  redis.call('HDEL', rk, 'next_run')
end
if next_run ~= '' and paused ~= '1' then
  redis.call('ZADD', P .. ':recurring-due', next_run, rid)
else
  redis.call('ZREM', P .. ':recurring-due', rid)
end
return 1
