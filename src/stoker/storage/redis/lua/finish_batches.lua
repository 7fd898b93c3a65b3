-- ARGV: prefix, now, limit. Finishes up to `limit` open batches whose members all settled,
-- oldest first, from their counts: records the outcome and moves each Awaiting continuation
-- to Enqueued or Deleted. A finished batch leaves the open set in the same script, so each
-- batch finishes once however many servers call. Returns the ids of the batches finished.
local now, limit = ARGV[2], tonumber(ARGV[3])
local open = P .. ':batches-open'

-- stoker.core.batches.batch_outcome, from the counts.
local function outcome_of(counts, total)
  if counts.Succeeded == total then
    return 'Succeeded'
  elseif counts.Failed > 0 then
    return 'Failed'
  end
  return 'Deleted'
end

local function settled_counts(bid)
  local raw = redis.call('HGETALL', batch_key(bid) .. ':counts')
  local counts, settled = {Succeeded = 0, Failed = 0}, 0
  for i = 1, #raw, 2 do
    local n = tonumber(raw[i + 1])
    counts[raw[i]] = n
    if SETTLED[raw[i]] then
      settled = settled + n
    end
  end
  return counts, settled
end

local function release(bid, outcome)
  for _, cid in ipairs(redis.call('LRANGE', batch_key(bid) .. ':continuations', 0, -1)) do
    local c = redis.call('HMGET', jkey(cid), 's', 'o', 'q', 'd', 'pk')
    if c[1] == 'Awaiting' and not c[5] then
      leave(cid, 'Awaiting')
      local state, hist = continuation_state(bid, outcome, c[2], c[3], now)
      enter(cid, state, now, hist, c[3])
      if state == 'Deleted' then
        set_expiry(cid, c[4] or '')
      end
    end
  end
end

local finished = {}
if limit <= 0 then
  return finished
end
for _, bid in ipairs(redis.call('ZRANGE', open, 0, -1)) do
  local total = tonumber(redis.call('HGET', batch_key(bid), 'n'))
  local counts, settled = settled_counts(bid)
  if settled >= total then
    local outcome = outcome_of(counts, total)
    redis.call('HSET', batch_key(bid), 'f', now, 'o', outcome)
    redis.call('ZREM', open, bid)
    release(bid, outcome)
    finished[#finished + 1] = bid
    if #finished >= limit then
      break
    end
  end
end
return finished
