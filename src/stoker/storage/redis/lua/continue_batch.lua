-- ARGV: prefix, retry slot key, token, batch id, then one Awaiting job as parse_jobs reads it.
-- Returns {'ok', id}, {'unknown', batch id} or {'missing', parent id}. Of a finished batch,
-- the job is created in the state finish_batches would have moved it to. The slot (as in
-- create_jobs.lua) makes a resend answer with the first call's id.
local slot, token = ARGV[2], ARGV[3]
local previous = answered(slot, token)
if previous then
  return previous
end
local bid = ARGV[4]
local batch = redis.call('HMGET', batch_key(bid), 'c', 'o')
if not batch[1] then
  return {'unknown', bid}
end
local jobs = parse_jobs(5)
local job = jobs[1]
if batch[2] then
  -- create_one gives a Deleted job its deleted expiry
  job.s, job.h = continuation_state(bid, batch[2], job.o, job.q, job.t)
end
local result = create_all(jobs)
if result[1] ~= 'ok' then
  return result
end
add_continuation(bid, result[2], job)
remember(slot, token, result)
return result
