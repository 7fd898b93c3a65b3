-- ARGV: prefix, now, limit (keys). Returns how many waiters were enqueued.
local promoted, seen = 0, 0
for _, ckey in ipairs(redis.call('SMEMBERS', P .. ':waiting-keys')) do
  if seen >= tonumber(ARGV[3]) then
    break
  end
  seen = seen + 1
  promoted = promoted + promote(ckey, ARGV[2])
end
return promoted
