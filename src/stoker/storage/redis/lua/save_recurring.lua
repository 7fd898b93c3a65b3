-- ARGV: prefix, recurring id, then field/value pairs of the whole record.
-- An update keeps last_run and last_job_id: only firing changes them.
local rid = ARGV[2]
local rk = P .. ':recurring:' .. rid
local kept = redis.call('HMGET', rk, 'last_run', 'last_job_id')
local existed = redis.call('EXISTS', rk) == 1
redis.call('DEL', rk)
for i = 3, #ARGV, 2 do
  if not (existed and (ARGV[i] == 'last_run' or ARGV[i] == 'last_job_id')) then
    redis.call('HSET', rk, ARGV[i], ARGV[i + 1])
  end
end
if existed then
  if kept[1] then redis.call('HSET', rk, 'last_run', kept[1]) end
  if kept[2] then redis.call('HSET', rk, 'last_job_id', kept[2]) end
end
redis.call('ZADD', P .. ':recurring-ids', 0, rid)
local r = redis.call('HMGET', rk, 'next_run', 'paused')
if r[1] and r[2] ~= '1' then
  redis.call('ZADD', P .. ':recurring-due', r[1], rid)
else
  redis.call('ZREM', P .. ':recurring-due', rid)
end
return 1
