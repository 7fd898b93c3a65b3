-- Helpers prepended to every script (see scripts.py). ARGV[1] is always the key prefix.
-- Reason texts are never spelled here: scripts.py defines them from stoker.core above this.
-- Times are microseconds since the epoch, passed as strings and used as sorted-set scores
-- (exact in a double until the year 2255). Index members are enc(id), so that ties between
-- jobs entering a state in the same microsecond sort in creation order, not as text.
local P = ARGV[1]
local FINAL = {Succeeded = true, Deleted = true}
-- Wake-up tokens kept per queue when nobody is waiting; bounds memory, not delivery.
local SIGNAL_CAP = 1000

local function enc(id)
  return string.char(64 + #id) .. id
end

local function jkey(id)
  return P .. ':job:' .. id
end

-- `set` is a comma-framed list such as ",Succeeded,Failed,".
local function has(set, name)
  return set and name and string.find(set, ',' .. name .. ',', 1, true) ~= nil
end

local function entry(name, at, reason, data)
  return cjson.encode({n = name, t = at, r = reason, d = data})
end

-- Remove a job from the index and placement of the state it is leaving.
local function leave(id, state, queue, server)
  local m = enc(id)
  redis.call('ZREM', P .. ':state:' .. state, m)
  if state == 'Enqueued' and queue then
    redis.call('ZREM', P .. ':queue:' .. queue, m)
  elseif state == 'Scheduled' then
    redis.call('ZREM', P .. ':schedule', m)
  elseif state == 'Processing' and server then
    local set = P .. ':processing:' .. server
    redis.call('SREM', set, id)
    if redis.call('EXISTS', set) == 0 then
      redis.call('SREM', P .. ':processing-servers', server)
    end
  end
end

local function signal(queue)
  local sig = P .. ':signal:' .. queue
  redis.call('LPUSH', sig, '1')
  redis.call('LTRIM', sig, 0, SIGNAL_CAP - 1)
end

-- State ids are fencing tokens: a worker finishes its job only if the state_id it fetched is
-- still current. A Redis that restarts without persistence forgets the sequence, so it starts
-- again from the server clock in microseconds, above every id handed out before the loss (a
-- Redis makes far fewer than a million state changes a second), and a worker still holding an
-- old token can never finish a new job that happens to reuse its job id.
local function next_state_id()
  local seq = P .. ':state-seq'
  local sid = redis.call('INCR', seq)
  if sid == 1 then
    local now = redis.call('TIME')
    sid = tonumber(now[1]) * 1000000 + tonumber(now[2])
    redis.call('SET', seq, string.format('%d', sid))
  end
  return string.format('%d', sid)
end

-- A batch member's move from state `old` (nil: none yet) to `new`, in its batch's counts.
local function count_move(batch, old, new)
  if old == new then
    return
  end
  local counts = P .. ':batch:' .. batch .. ':counts'
  if old then
    redis.call('HINCRBY', counts, old, -1)
  end
  redis.call('HINCRBY', counts, new, 1)
end

-- Enter state `name` at `at`: history row, current-state fields, state index and placement.
-- `place` is the queue (Enqueued), the run_at (Scheduled) or the server id (Processing).
-- Every state change goes through here, so a batch member ('b') is counted here: for a plain
-- job that costs the one field read.
local function enter(id, name, at, hist, place)
  local k = jkey(id)
  local m = enc(id)
  local was = redis.call('HMGET', k, 's', 'b')
  if was[2] then
    count_move(was[2], was[1], name)
  end
  local sid = next_state_id()
  redis.call('RPUSH', k .. ':history', hist)
  redis.call('ZADD', P .. ':state:' .. name, at, m)
  if name == 'Enqueued' then
    redis.call('HSET', k, 's', name, 'i', sid, 't', at, 'q', place, 'e', at)
    redis.call('HDEL', k, 'srv')
    redis.call('ZADD', P .. ':queue:' .. place, at, m)
    redis.call('SADD', P .. ':queues', place)
    signal(place)
  elseif name == 'Processing' then
    redis.call('HSET', k, 's', name, 'i', sid, 't', at, 'srv', place)
    redis.call('HDEL', k, 'g')
    redis.call('SADD', P .. ':processing:' .. place, id)
    redis.call('SADD', P .. ':processing-servers', place)
  else
    redis.call('HSET', k, 's', name, 'i', sid, 't', at)
    redis.call('HDEL', k, 'srv')
    if name == 'Scheduled' then
      redis.call('ZADD', P .. ':schedule', place, m)
    elseif SETTLED[name] then
      -- for those waiting on the job (App.wait); without a subscriber it costs a lookup
      redis.call('PUBLISH', P .. ':settled', id)
    end
  end
  return sid
end

local function set_expiry(id, x)
  if x and x ~= '' then
    redis.call('HSET', jkey(id), 'x', x)
    redis.call('ZADD', P .. ':expiry', x, enc(id))
  elseif redis.call('HDEL', jkey(id), 'x') == 1 then
    redis.call('ZREM', P .. ':expiry', enc(id))
  end
end

-- Resolve the Awaiting children of a job that entered `pstate`: enqueue those waiting for it,
-- delete those whose condition can no longer be met (parent final), and resolve the children
-- of those deleted in turn, so that no grandchild waits forever on a deleted job.
local function release_children(parent, pstate, at, deleted_x)
  local work = {{parent, pstate}}
  while #work > 0 do
    local item = table.remove(work)
    local pid, ps = item[1], item[2]
    for _, cid in ipairs(redis.call('LRANGE', jkey(pid) .. ':children', 0, -1)) do
      local c = redis.call('HMGET', jkey(cid), 's', 'o', 'q', 'd', 'pk')
      if c[5] then
        -- parked for a concurrency slot ('pk'): long past its parent's say
      elseif c[1] == 'Awaiting' and has(c[2], ps) then
        leave(cid, 'Awaiting')
        local why = continuation_met(pid, ps)
        enter(cid, 'Enqueued', at, entry('Enqueued', at, why, {queue = c[3]}), c[3])
      elseif c[1] == 'Awaiting' and FINAL[ps] then
        leave(cid, 'Awaiting')
        local why = continuation_not_met(pid, ps)
        enter(cid, 'Deleted', at, entry('Deleted', at, why, {}), nil)
        local x = deleted_x
        if x == '' then x = c[4] or '' end
        set_expiry(cid, x)
        table.insert(work, {cid, 'Deleted'})
      end
    end
  end
end

local function add_counter(key, by, x)
  redis.call('INCRBY', P .. ':counter:' .. key, by)
  if x ~= '' then
    redis.call('ZADD', P .. ':counter-expiry', x, key)
  end
end
