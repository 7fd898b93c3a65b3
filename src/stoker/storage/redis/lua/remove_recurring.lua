-- ARGV: prefix, recurring id. 1 if it existed.
local rid = ARGV[2]
redis.call('ZREM', P .. ':recurring-ids', rid)
redis.call('ZREM', P .. ':recurring-due', rid)
return redis.call('DEL', P .. ':recurring:' .. rid)
