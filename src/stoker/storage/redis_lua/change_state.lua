-- ARGV: prefix, job id, state, at, history entry, expected states (",A,B," or ""),
-- expected state_id (or ""), queue, run_at, expire_at, server id, op token, release (1/0),
-- deleted children expire_at, number of params, number of counters,
-- then name/JSON pairs of params, then key/by/expire_at triples of counters. Returns 1 or 0.
local id, state, at, hist = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local expected, expected_sid, queue, run_at = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local expire_at, server, token, release, deleted_x = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local np, nc = tonumber(ARGV[15]), tonumber(ARGV[16])
local k = jkey(id)

local job = redis.call('HMGET', k, 's', 'i', 'q', 'srv', 'op')
if not job[1] then
  return 0
end
-- A retry of a change that was applied but whose reply was lost reports success again.
if token ~= '' and job[5] == token then
  return 1
end
if expected ~= '' and not has(expected, job[1]) then
  return 0
end
if expected_sid ~= '' and job[2] ~= expected_sid then
  return 0
end

leave(id, job[1], job[3], job[4])
local place = nil
if state == 'Enqueued' then
  place = queue ~= '' and queue or job[3]
elseif state == 'Scheduled' then
  place = run_at ~= '' and run_at or at
elseif state == 'Processing' then
  place = server
end
enter(id, state, at, hist, place)
set_expiry(id, expire_at)
if token ~= '' then
  redis.call('HSET', k, 'op', token)
end
local i = 17
for _ = 1, np do
  redis.call('HSET', k .. ':params', ARGV[i], ARGV[i + 1])
  i = i + 2
end
for _ = 1, nc do
  add_counter(ARGV[i], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
if release == '1' then
  release_children(id, state, at, deleted_x)
end
return 1
