-- Concurrency slots and rate-limited starts (see limits.py). Keys, for a limit key K:
--   P:slots:K     hash  job id -> state id it holds a slot under (counts while the job is
--                       Enqueued or Processing; others are dropped as they are met)
--   P:line:K      zset  waiting job ids by their place in line (P:line-seq)
--   P:waiter:K    hash  waiting job id -> "<Awaiting state id> <concurrency>"
--   P:waiting-keys set  keys that have a line (the safety net's list)
--   P:rate:K      zset  starts made or reserved, by time (members "<time>:<seq>")
--   P:rate-res:K  hash  job id -> time of the start it reserved and has not used yet

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

-- nil if the job may start now (the start is recorded), else the time of the start it
-- reserved: the first the sliding window allows after every start already reserved.
local function reserve_start(rkey, id, now, count, period)
  local starts, res = P .. ':rate:' .. rkey, P .. ':rate-res:' .. rkey
  local mine = redis.call('HGET', res, id)
  if mine then
    if tonumber(mine) > now then
      return tonumber(mine) -- back too early (enqueued by hand): its turn stays
    end
    redis.call('HDEL', res, id)
    return nil
  end
  redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - period)
  local at = now
  local latest = redis.call('ZRANGE', starts, -1, -1, 'WITHSCORES')
  if #latest > 0 and tonumber(latest[2]) > at then
    at = tonumber(latest[2])
  end
  local nth = redis.call('ZREVRANGE', starts, count - 1, count - 1, 'WITHSCORES')
  if #nth > 0 and tonumber(nth[2]) + period > at then
    at = tonumber(nth[2]) + period
  end
  local text = string.format('%d', at)
  redis.call('ZADD', starts, text, text .. ':' .. redis.call('INCR', P .. ':rate-seq'))
  if at <= now then
    return nil
  end
  redis.call('HSET', res, id, text)
  return at
end
