-- ARGV: prefix, server_id, now. 1 if the server is registered (heartbeat refreshed), else 0.
if redis.call('HEXISTS', P .. ':servers', ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', P .. ':heartbeats', ARGV[3], ARGV[2])
return 1
