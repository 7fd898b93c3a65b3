-- ARGV: prefix, idempotency key, now, the key's expiry (both microseconds), then one job as
-- parse_jobs reads it. A key that still names a job answers with that job's id and creates
-- nothing. The script is atomic, so two creates with one key cannot both miss it, and one
-- resent after a lost reply returns the same id.
local key, now, x = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local kk = P .. ':idempotency:' .. key
local known = redis.call('HMGET', kk, 'j', 'x')
if known[1] and tonumber(known[2]) > now then
  return {'ok', known[1]}
end
local result = create_all(parse_jobs(5))
if result[1] == 'ok' then
  redis.call('HSET', kk, 'j', result[2], 'x', x)
  redis.call('ZADD', P .. ':idempotency-expiry', x, key)
end
return result
