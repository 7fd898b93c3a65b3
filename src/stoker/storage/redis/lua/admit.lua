-- ARGV: prefix, job id, state id (its Processing claim), now, concurrency key (or ""),
-- concurrency, history entry of the Awaiting state, rate key (or ""), rate count, rate
-- period (microseconds), how long an unused reservation is kept past its window
-- (microseconds). Returns {1} (run now), {0} (parked, or the claim is gone) or {0, time} (a
-- start reserved for then).
local id, sid, now = ARGV[2], ARGV[3], ARGV[4]
local ckey, n, hist = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local rkey, rcount, rperiod = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local job = redis.call('HMGET', jkey(id), 's', 'i', 'q', 'srv')
if job[1] ~= 'Processing' or job[2] ~= sid then
  return {0}
end
if ckey ~= '' and redis.call('EXISTS', P .. ':line:' .. ckey) == 1 then
  -- The line is served first: a slot that freed (its job ended a moment ago, its release
  -- still to come) goes to the oldest waiter, never to this newer job.
  promote(ckey, now)
end
if ckey ~= '' and live_slots(ckey, id) >= n then
  leave(id, 'Processing', job[3], job[4])
  join_line(ckey, id, enter(id, 'Awaiting', now, hist, nil), n)
  return {0}
end
if rkey ~= '' then
  local at = reserve_start(rkey, id, tonumber(now), rcount, rperiod, tonumber(ARGV[11]))
  if at then
    return {0, string.format('%d', at)}
  end
end
if ckey ~= '' then
  redis.call('HSET', P .. ':slots:' .. ckey, id, sid)
end
return {1}
