-- ARGV: prefix, now, limit. Removes expired jobs (with history, params, logs), counters and
-- idempotency keys.
local now, limit = ARGV[2], tonumber(ARGV[3])
local removed = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. ':expiry', '-inf', now, 'LIMIT', 0, limit)) do
  local id = string.sub(m, 2)
  local k = jkey(id)
  local j = redis.call('HMGET', k, 's', 'q', 'srv', 'p', 'u', 'b')
  if j[1] then
    leave(id, j[1], j[2], j[3])
    if j[4] then
      redis.call('LREM', jkey(j[4]) .. ':children', 0, id)
    end
    if j[5] and redis.call('GET', P .. ':unique:' .. j[5]) == id then
      redis.call('DEL', P .. ':unique:' .. j[5])  -- the key's job is gone: it holds nothing
    end
    if j[6] then
      -- gone from its batch's pages; its batch's counts keep it (expiry is not a move)
      redis.call('ZREM', P .. ':batch:' .. j[6] .. ':jobs', id)
    end
    redis.call('DEL', k, k .. ':history', k .. ':params', k .. ':logs', k .. ':children')
    removed = removed + 1
  end
  redis.call('ZREM', P .. ':expiry', m)
end
local ce = P .. ':counter-expiry'
for _, key in ipairs(redis.call('ZRANGEBYSCORE', ce, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('DEL', P .. ':counter:' .. key)
  redis.call('ZREM', ce, key)
end
local ie = P .. ':idempotency-expiry'
for _, key in ipairs(redis.call('ZRANGEBYSCORE', ie, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('DEL', P .. ':idempotency:' .. key)
  redis.call('ZREM', ie, key)
end
return removed
