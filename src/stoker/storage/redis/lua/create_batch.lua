-- ARGV: prefix, retry slot key, token, batch id, description, created_at, roles (one letter
-- per job: m member, w continuation of the batch, - neither), then the jobs as parse_jobs
-- reads them. Returns {'ok', id...}, {'used', batch id} or {'missing', parent id}, with
-- nothing written unless 'ok'. The slot (as in create_jobs.lua) makes a call resent after a
-- lost reply answer with the first call's ids instead of finding its own batch "used".
local slot, token = ARGV[2], ARGV[3]
local previous = answered(slot, token)
if previous then
  return previous
end
local bid, description, created_at, roles = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local bk = batch_key(bid)
if redis.call('EXISTS', bk) == 1 then
  return {'used', bid}
end
local jobs = parse_jobs(8)
local result = create_all(jobs)
if result[1] ~= 'ok' then
  return result
end
-- The first counts: created before they had 'b', the members were not counted by enter().
local members, counts = {}, {}
for j, job in ipairs(jobs) do
  local role, id = string.sub(roles, j, j), result[j + 1]
  if role == 'm' then
    redis.call('HSET', jkey(id), 'b', bid)
    -- A member has no parent, so it starts in the state it was sent in (initial_state).
    counts[job.s] = (counts[job.s] or 0) + 1
    members[#members + 1] = id
    members[#members + 1] = id
  elseif role == 'w' then
    add_continuation(bid, id, job)
  end
end
for state, n in pairs(counts) do
  redis.call('HSET', bk .. ':counts', state, n)
end
call_chunked('ZADD', bk .. ':jobs', members)  -- score and member: the id, for paging
redis.call('HSET', bk, 'd', description, 'c', created_at, 'n', #members / 2)
redis.call('ZADD', P .. ':batches', created_at, bid)
redis.call('ZADD', P .. ':batches-open', created_at, bid)
remember(slot, token, result)
return result
