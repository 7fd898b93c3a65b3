-- ARGV: prefix, now, limit. Moves Processing jobs of servers that are no longer registered
-- back to Enqueued (at-least-once: their worker may have died mid-job), counting the crash.
local now, limit = ARGV[2], tonumber(ARGV[3])
local requeued = {}
for _, server in ipairs(redis.call('SMEMBERS', P .. ':processing-servers')) do
  if #requeued >= limit then
    break
  end
  if redis.call('HEXISTS', P .. ':servers', server) == 0 then
    local set = P .. ':processing:' .. server
    for _, id in ipairs(redis.call('SRANDMEMBER', set, limit - #requeued)) do
      local k = jkey(id)
      local j = redis.call('HMGET', k, 's', 'q', 'srv')
      if j[1] == 'Processing' and j[3] == server then
        leave(id, 'Processing', nil, server)
        local crashes = tonumber(redis.call('HGET', k .. ':params', CRASHES_PARAM) or '0') or 0
        redis.call('HSET', k .. ':params', CRASHES_PARAM, string.format('%d', crashes + 1))
        local why = orphan_requeued(server)
        enter(id, 'Enqueued', now, entry('Enqueued', now, why, {queue = j[2]}), j[2])
        requeued[#requeued + 1] = id
      else
        redis.call('SREM', set, id)
      end
    end
    if redis.call('EXISTS', set) == 0 then
      redis.call('SREM', P .. ':processing-servers', server)
    end
  end
end
return requeued
