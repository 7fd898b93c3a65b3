-- ARGV: prefix, name, owner, now, expires_at. Takes a free or expired lock, or extends our own.
-- Expiry is compared with the caller's clock (not a Redis TTL) so that injected time works.
local lk = P .. ':lock:' .. ARGV[2]
local l = redis.call('HMGET', lk, 'owner', 'expires')
if l[1] and l[1] ~= ARGV[3] and tonumber(l[2]) > tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', lk, 'owner', ARGV[3], 'expires', ARGV[5])
return 1
