-- ARGV: prefix, name, owner. Deletes the lock only if `owner` holds it.
local lk = P .. ':lock:' .. ARGV[2]
if redis.call('HGET', lk, 'owner') == ARGV[3] then
  redis.call('DEL', lk)
end
return 0
