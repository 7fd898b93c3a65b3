-- ARGV: prefix, recurring id, expected next_run, next_run (or ""), now, then jobs (create.lua).
-- The compare on next_run makes each occurrence fire exactly once across servers.
local rid, expected, next_run, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rk = P .. ':recurring:' .. rid
if redis.call('HGET', rk, 'next_run') ~= expected then
  return {'lost'}
end
local jobs = parse_jobs(6)
local result = create_all(jobs)
if result[1] ~= 'ok' then
  return result
end
if next_run ~= '' then
  redis.call('HSET', rk, 'next_run', next_run)
  if redis.call('HGET', rk, 'paused') ~= '1' then
    redis.call('ZADD', P .. ':recurring-due', next_run, rid)
  end
else
  redis.call('HDEL', rk, 'next_run')
  redis.call('ZREM', P .. ':recurring-due', rid)
end
if #result > 1 then
  redis.call('HSET', rk, 'last_run', now, 'last_job_id', result[#result])
end
return result
