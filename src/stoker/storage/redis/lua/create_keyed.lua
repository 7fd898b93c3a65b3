-- ARGV: prefix, retry slot key, token, idempotency key, now, that key's expiry (microseconds),
-- unique key ('' for a key the job has not), then one job as parse_jobs reads it. An
-- idempotency key that still names a job, or a unique key held by an unfinished job, answers
-- with that job's id and creates nothing. The script is atomic, so two creates with one key
-- cannot both miss it. The slot (as in create_jobs.lua) makes a call resent after a lost
-- reply return what the first one did, also when its unique key's job has ended meanwhile.
local slot, token = ARGV[2], ARGV[3]
local previous = answered(slot, token)
if previous then
  return previous
end
local idem, now, x, unique = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local ik, uk = P .. ':idempotency:' .. idem, P .. ':unique:' .. unique
if idem ~= '' then
  local known = redis.call('HMGET', ik, 'j', 'x')
  if known[1] and tonumber(known[2]) > now then
    return {'ok', known[1]}
  end
end
local id = nil
if unique ~= '' then
  local holder = redis.call('GET', uk)
  if holder and UNFINISHED[redis.call('HGET', jkey(holder), 's')] then
    id = holder
  end
end
if not id then
  local result = create_all(parse_jobs(8))
  if result[1] ~= 'ok' then
    return result
  end
  id = result[2]
  if unique ~= '' then
    redis.call('SET', uk, id)
    redis.call('HSET', jkey(id), 'u', unique)  -- delete_expired frees the key with the job
  end
end
if idem ~= '' then
  redis.call('HSET', ik, 'j', id, 'x', x)
  redis.call('ZADD', P .. ':idempotency-expiry', x, idem)
end
local result = {'ok', id}
remember(slot, token, result)
return result
