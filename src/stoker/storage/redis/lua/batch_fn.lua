-- Batches, shared by create_batch.lua, continue_batch.lua and finish_batches.lua.
-- P:batch:{id} is a hash: d description, c created_at, n total (members), f finished_at and
-- o outcome once finished. Its members are counted per state in P:batch:{id}:counts by
-- enter() (common.lua), which every state change goes through.

local function batch_key(bid)
  return P .. ':batch:' .. bid
end

-- The state a continuation of a batch finished with `outcome` moves to, and its history entry
-- (as stoker.core.batches.continuation_record makes them).
local function continuation_state(bid, outcome, on_states, queue, at)
  if has(on_states, outcome) then
    return 'Enqueued', entry('Enqueued', at, batch_finished(bid, outcome), {queue = queue})
  end
  return 'Deleted', entry('Deleted', at, batch_condition_not_met(bid, outcome), {})
end

-- Register job `id` (created from `job`, see parse_jobs) as a continuation of batch `bid`:
-- what it waits for and its deleted expiry are kept on the job for finish_batches.
local function add_continuation(bid, id, job)
  redis.call('HSET', jkey(id), 'o', job.o)
  if job.dx ~= '' then
    redis.call('HSET', jkey(id), 'd', job.dx)
  end
  redis.call('RPUSH', batch_key(bid) .. ':continuations', id)
end
