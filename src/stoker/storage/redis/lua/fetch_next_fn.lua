-- fetch_next(A): the body of fetch_next.lua as a function, so finish_fetch.lua can run it too.
-- A is laid out as that script's ARGV:
-- prefix, server_id, worker_id, now, claim token, Processing history entry, queues...
-- Returns {id, function, args, kwargs, queue, created_at, enqueued_at, state_id, params...}.
local function fetch_next(A)
  local server, worker, now, token, hist = A[2], A[3], A[4], A[5], A[6]
  local claims = P .. ':claims:' .. server

  local function fetched(id)
    local k = jkey(id)
    local j = redis.call('HMGET', k, 'f', 'a', 'k', 'q', 'c', 'e', 'i')
    local result = {id, j[1], j[2], j[3], j[4], j[5], j[6], j[7]}
    for _, v in ipairs(redis.call('HGETALL', k .. ':params')) do
      result[#result + 1] = v
    end
    return result
  end

  -- A retried call (the reply was lost with the connection) returns the job it already
  -- claimed, instead of claiming a second one that would sit in Processing with nobody on it.
  local previous = redis.call('HGET', claims, worker)
  if previous then
    local space = string.find(previous, ' ', 1, true)
    if string.sub(previous, 1, space - 1) == token then
      local id = string.sub(previous, space + 1)
      local j = redis.call('HMGET', jkey(id), 's', 'srv')
      if j[1] == 'Processing' and j[2] == server then
        return fetched(id)
      end
      return false
    end
  end

  for i = 7, #A do
    local queue = A[i]
    local popped = redis.call('ZPOPMIN', P .. ':queue:' .. queue)
    while popped[1] do
      local id = string.sub(popped[1], 2)
      local j = redis.call('HMGET', jkey(id), 's', 'q')
      -- Indexes change only inside scripts, so a mismatch cannot happen; skip it defensively.
      if j[1] == 'Enqueued' and j[2] == queue then
        leave(id, 'Enqueued')
        enter(id, 'Processing', now, hist, server)
        redis.call('LPOP', P .. ':signal:' .. queue)
        redis.call('HSET', claims, worker, token .. ' ' .. id)
        return fetched(id)
      end
      popped = redis.call('ZPOPMIN', P .. ':queue:' .. queue)
    end
  end
  return false
end
