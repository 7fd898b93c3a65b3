-- Concurrency slots and rate-limited starts (see limits.py). Keys, for a limit key K:
--   P:slots:K     hash  job id -> state id it holds a slot under (counts while the job is
--                       Enqueued or Processing; others are dropped as they are met)
--   P:line:K      zset  waiting job ids by their place in line (P:line-seq)
--   P:waiter:K    hash  waiting job id -> "<Awaiting state id> <concurrency>"
--   P:waiting-keys set  keys that have a line (the safety net's list)
--   P:rate:K      zset  starts by time: "s<seq>" a start made, "r<job id>" a start reserved
--                       for that job and not used yet

-- Slots of `ckey` held by jobs other than `self_id`, dropping those no longer held.
local function live_slots(ckey, self_id)
  local slots = P .. ':slots:' .. ckey
  local flat = redis.call('HGETALL', slots)
  local live = 0
  for i = 1, #flat, 2 do
    local jid = flat[i]
    local s = redis.call('HGET', jkey(jid), 's')
    if s == 'Enqueued' or s == 'Processing' then
      if jid ~= self_id then
        live = live + 1
      end
    else
      redis.call('HDEL', slots, jid)
    end
  end
  return live
end

local function join_line(ckey, id, wsid, n)
  local seq = redis.call('INCR', P .. ':line-seq')
  redis.call('ZADD', P .. ':line:' .. ckey, seq, id)
  redis.call('HSET', P .. ':waiter:' .. ckey, id, wsid .. ' ' .. n)
  redis.call('SADD', P .. ':waiting-keys', ckey)
  -- Its parent (if it is a continuation) has no say any more: see release_children.
  redis.call('HSET', jkey(id), 'pk', ckey)
end

-- Enqueue the oldest waiters of `ckey` while slots are free; each holds its slot at once.
local function promote(ckey, at)
  local line, info = P .. ':line:' .. ckey, P .. ':waiter:' .. ckey
  local held = live_slots(ckey, '')
  local promoted = 0
  while true do
    local first = redis.call('ZRANGE', line, 0, 0)
    if #first == 0 then
      break
    end
    local wid = first[1]
    local w = redis.call('HGET', info, wid) or ''
    local wsid, n = string.match(w, '^(%S+) (%d+)$')
    if wsid and held >= tonumber(n) then
      break
    end
    redis.call('ZREM', line, wid)
    redis.call('HDEL', info, wid)
    local job = redis.call('HMGET', jkey(wid), 's', 'i', 'q')
    if wsid and job[1] == 'Awaiting' and job[2] == wsid then
      redis.call('HDEL', jkey(wid), 'pk')
      leave(wid, 'Awaiting')
      local hist = entry('Enqueued', at, slot_freed(ckey), {queue = job[3]})
      local sid = enter(wid, 'Enqueued', at, hist, job[3])
      redis.call('HSET', P .. ':slots:' .. ckey, wid, sid)
      held = held + 1
      promoted = promoted + 1
    end
  end
  if redis.call('EXISTS', line) == 0 then
    redis.call('SREM', P .. ':waiting-keys', ckey)
  end
  return promoted
end

-- The starts made in (since, now] and the time of the nth latest of them.
local function starts_made(starts, since, now, nth)
  local made, nth_at = 0, nil
  local entries = redis.call('ZREVRANGEBYSCORE', starts, now, '(' .. since, 'WITHSCORES')
  for i = 1, #entries, 2 do
    if string.sub(entries[i], 1, 1) == 's' then
      made = made + 1
      if made == nth then
        nth_at = tonumber(entries[i + 1])
      end
    end
  end
  return made, nth_at
end

-- Forget starts made before the window, and reservations their jobs never came back for.
local function prune_starts(starts, before, forgotten)
  local old = redis.call('ZRANGEBYSCORE', starts, '-inf', before, 'LIMIT', 0, 500)
  for _, m in ipairs(old) do
    if string.sub(m, 1, 1) == 's' or tonumber(redis.call('ZSCORE', starts, m)) <= forgotten then
      redis.call('ZREM', starts, m)
    end
  end
end

-- A job back for its reserved start: too early, it keeps its turn; otherwise it starts if the
-- starts really made in the last period allow it (it may come back late, after the ones
-- reserved behind it), else its turn moves to the first time they do.
local function use_reservation(starts, id, at, now, count, period)
  if at > now then
    return at
  end
  local made, nth_at = starts_made(starts, now - period, now, count)
  if made < count then
    redis.call('ZREM', starts, 'r' .. id)
    redis.call('ZADD', starts, now, 's' .. redis.call('INCR', P .. ':rate-seq'))
    return nil
  end
  redis.call('ZADD', starts, nth_at + period, 'r' .. id)
  return nth_at + period
end

-- The slot `id` took under its claim `sid` goes back, and the key's line moves.
local function give_back_slot(ckey, id, sid, at)
  local slots = P .. ':slots:' .. ckey
  if redis.call('HGET', slots, id) == sid then
    redis.call('HDEL', slots, id)
  end
  return promote(ckey, at)
end

-- nil if the job may start now (the start is recorded), else the time of the start it
-- reserved (see stoker.core.protocols.Storage.admit).
local function reserve_start(rkey, id, now, count, period, grace)
  local starts = P .. ':rate:' .. rkey
  prune_starts(starts, now - period, now - period - grace)
  local mine = redis.call('ZSCORE', starts, 'r' .. id)
  if mine then
    return use_reservation(starts, id, tonumber(mine), now, count, period)
  end
  local at = now
  local latest = redis.call('ZRANGE', starts, -1, -1, 'WITHSCORES')
  if #latest > 0 and tonumber(latest[2]) > at then
    at = tonumber(latest[2])
  end
  local nth = redis.call('ZREVRANGE', starts, count - 1, count - 1, 'WITHSCORES')
  if #nth > 0 and tonumber(nth[2]) + period > at then
    at = tonumber(nth[2]) + period
  end
  if at <= now then
    redis.call('ZADD', starts, now, 's' .. redis.call('INCR', P .. ':rate-seq'))
    return nil
  end
  redis.call('ZADD', starts, at, 'r' .. id)
  return at
end
