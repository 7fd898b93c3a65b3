-- ARGV: prefix, heartbeat_before. Unregisters servers whose heartbeat is older; returns ids.
local dead = redis.call('ZRANGEBYSCORE', P .. ':heartbeats', '-inf', '(' .. ARGV[2])
for _, server in ipairs(dead) do
  redis.call('ZREM', P .. ':heartbeats', server)
  redis.call('HDEL', P .. ':servers', server)
  redis.call('DEL', P .. ':claims:' .. server)
end
return dead
