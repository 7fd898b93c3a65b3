-- change_state(A): the body of change_state.lua as a function, so finish_fetch.lua can run it too.
-- A is laid out as that script's ARGV:
-- prefix, job id, state, at, history entry, expected states (",A,B," or ""),
-- expected state_id (or ""), queue, run_at, expire_at, server id, op token, release (1/0),
-- deleted children expire_at, concurrency key whose slot to give back (or ""), number of
-- params, number of counters, then name/JSON pairs of params, then key/by/expire_at triples of
-- counters. Returns 1 or 0.
local function change_state(A)
  local id, state, at, hist = A[2], A[3], A[4], A[5]
  local expected, expected_sid, queue, run_at = A[6], A[7], A[8], A[9]
  local expire_at, server, token, release, deleted_x = A[10], A[11], A[12], A[13], A[14]
  local np, nc = tonumber(A[16]), tonumber(A[17])
  local k = jkey(id)
  if A[15] ~= '' then
    -- Whether or not the change applies, the slot the job took under its claim goes back
    -- and the line moves (a resend does it again, harmlessly).
    give_back_slot(A[15], id, expected_sid, at)
  end

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
  local i = 18
  for _ = 1, np do
    redis.call('HSET', k .. ':params', A[i], A[i + 1])
    i = i + 2
  end
  for _ = 1, nc do
    add_counter(A[i], A[i + 1], A[i + 2])
    i = i + 3
  end
  if release == '1' then
    release_children(id, state, at, deleted_x)
  end
  return 1
end
