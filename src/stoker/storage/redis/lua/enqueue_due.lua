-- ARGV: prefix, now, limit. Moves Scheduled jobs whose run_at <= now to Enqueued.
local now, limit = ARGV[2], tonumber(ARGV[3])
local moved = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. ':schedule', '-inf', now, 'LIMIT', 0, limit)) do
  local id = string.sub(m, 2)
  local j = redis.call('HMGET', jkey(id), 's', 'q')
  redis.call('ZREM', P .. ':schedule', m)
  if j[1] == 'Scheduled' then
    leave(id, 'Scheduled')
    enter(id, 'Enqueued', now, entry('Enqueued', now, SCHEDULED_TIME_REACHED, {queue = j[2]}), j[2])
    moved = moved + 1
  end
end
return moved
