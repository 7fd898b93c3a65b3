-- ARGV: prefix, concurrency key, job id, state id of its Processing claim, now.
-- Returns how many waiters were enqueued.
local ckey, id, sid = ARGV[2], ARGV[3], ARGV[4]
local slots = P .. ':slots:' .. ckey
if redis.call('HGET', slots, id) == sid then
  redis.call('HDEL', slots, id)
end
return promote(ckey, ARGV[5])
