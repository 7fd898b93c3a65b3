-- Job creation, shared by create_jobs.lua, create_keyed.lua and fire_recurring.lua.
-- Each job is 13 arguments followed by its parameters (see redis_codec.new_job_args):
-- function, args, kwargs, queue, state, at, history entry, created_at, run_at, parent_id,
-- on_states, deleted_expire_at, number of parameters, then name, JSON value pairs.
-- A job equal to the one before it except for its arguments (most of a bulk enqueue) is
-- sent as three: SAME, args, kwargs.
local JOB_FIELDS = 13
local SAME = '\0='

local function parse_jobs(i)
  local n = tonumber(ARGV[i])
  i = i + 1
  local jobs = {}
  for j = 1, n do
    if ARGV[i] == SAME then
      local prev = jobs[j - 1]
      jobs[j] = {
        f = prev.f, a = ARGV[i + 1], k = ARGV[i + 2], q = prev.q, s = prev.s, t = prev.t,
        h = prev.h, c = prev.c, run = prev.run, p = prev.p, o = prev.o, dx = prev.dx,
        params_at = prev.params_at, np = prev.np,
      }
      i = i + 3
    else
      local np = tonumber(ARGV[i + 12])
      jobs[j] = {
        f = ARGV[i], a = ARGV[i + 1], k = ARGV[i + 2], q = ARGV[i + 3], s = ARGV[i + 4],
        t = ARGV[i + 5], h = ARGV[i + 6], c = ARGV[i + 7], run = ARGV[i + 8], p = ARGV[i + 9],
        o = ARGV[i + 10], dx = ARGV[i + 11], params_at = i + JOB_FIELDS, np = np,
      }
      i = i + JOB_FIELDS + 2 * np
    end
  end
  return jobs, i
end

-- An Awaiting job whose parent already finished is created in the state it would have been
-- released to, so a continuation of a finished parent never waits for an event that is gone.
local function initial_state(id, job)
  if job.s ~= 'Awaiting' then
    return job.s, job.h
  end
  local ps = redis.call('HGET', jkey(job.p), 's')
  if has(job.o, ps) then
    local why = continuation_met(job.p, ps)
    return 'Enqueued', entry('Enqueued', job.t, why, {queue = job.q})
  elseif FINAL[ps] then
    local why = continuation_not_met(job.p, ps)
    return 'Deleted', entry('Deleted', job.t, why, {})
  end
  return job.s, job.h
end

local function create_one(id, job)
  local k = jkey(id)
  redis.call('HSET', k, 'f', job.f, 'a', job.a, 'k', job.k, 'q', job.q, 'c', job.c)
  for j = job.params_at, job.params_at + 2 * job.np - 1, 2 do
    redis.call('HSET', k .. ':params', ARGV[j], ARGV[j + 1])
  end
  if job.p ~= '' then
    redis.call('HSET', k, 'p', job.p, 'o', job.o)
    if job.dx ~= '' then
      redis.call('HSET', k, 'd', job.dx)
    end
    redis.call('RPUSH', jkey(job.p) .. ':children', id)
  end
  local state, hist = initial_state(id, job)
  local place = nil
  if state == 'Enqueued' then
    place = job.q
  elseif state == 'Scheduled' then
    place = job.run
  end
  enter(id, state, job.t, hist, place)
  if state == 'Deleted' then
    set_expiry(id, job.dx)
  end
end

-- ZADD/LPUSH many members in chunks: Lua's unpack() has a limited stack.
local CHUNK = 1000

local function call_chunked(command, key, items)
  for first = 1, #items, CHUNK do
    redis.call(command, key, unpack(items, first, math.min(first + CHUNK - 1, #items)))
  end
end

-- State ids for `n` new states in one INCRBY (see next_state_id for the restart case).
local function next_state_ids(n)
  local seq = P .. ':state-seq'
  local last = redis.call('INCRBY', seq, n)
  if last == n then
    local now = redis.call('TIME')
    last = tonumber(now[1]) * 1000000 + tonumber(now[2]) + n
    redis.call('SET', seq, string.format('%d', last))
  end
  return last - n
end

-- Jobs created straight into Enqueued without a parent (every enqueue and bulk enqueue):
-- what create_one and enter() write for each, with the writes that repeat per job (state
-- index, queue index, queue set, wake-up tokens) sent once per batch.
local function create_enqueued(first, jobs)
  local sid0 = next_state_ids(#jobs)
  local states, queues = {}, {}
  for j, job in ipairs(jobs) do
    local id = string.format('%d', first + j)
    local k, m = jkey(id), enc(id)
    redis.call('HSET', k, 'f', job.f, 'a', job.a, 'k', job.k, 'q', job.q, 'c', job.c,
      's', 'Enqueued', 'i', string.format('%d', sid0 + j), 't', job.t, 'e', job.t)
    if job.np > 0 then
      redis.call('HSET', k .. ':params', unpack(ARGV, job.params_at, job.params_at + 2 * job.np - 1))
    end
    redis.call('RPUSH', k .. ':history', job.h)
    states[#states + 1] = job.t
    states[#states + 1] = m
    local members = queues[job.q]
    if not members then
      members = {}
      queues[job.q] = members
    end
    members[#members + 1] = job.t
    members[#members + 1] = m
  end
  call_chunked('ZADD', P .. ':state:Enqueued', states)
  for queue, members in pairs(queues) do
    call_chunked('ZADD', P .. ':queue:' .. queue, members)
    redis.call('SADD', P .. ':queues', queue)
    local tokens = {}
    for t = 1, math.min(#members / 2, SIGNAL_CAP) do
      tokens[t] = '1'
    end
    local sig = P .. ':signal:' .. queue
    call_chunked('LPUSH', sig, tokens)
    redis.call('LTRIM', sig, 0, SIGNAL_CAP - 1)
  end
end

local function plain_enqueued(jobs)
  for _, job in ipairs(jobs) do
    if job.s ~= 'Enqueued' or job.p ~= '' then
      return false
    end
  end
  return true
end

-- Returns {'ok', id...}, or {'missing', parent_id} with nothing written.
local function create_all(jobs)
  for _, job in ipairs(jobs) do
    if job.p ~= '' and redis.call('EXISTS', jkey(job.p)) == 0 then
      return {'missing', job.p}
    end
  end
  local result = {'ok'}
  if #jobs == 0 then
    return result
  end
  local last = redis.call('INCRBY', P .. ':job-seq', #jobs)
  local fast = plain_enqueued(jobs)
  for j, job in ipairs(jobs) do
    local id = string.format('%d', last - #jobs + j)
    if not fast then
      create_one(id, job)
    end
    result[j + 1] = id
  end
  if fast then
    create_enqueued(last - #jobs, jobs)
  end
  return result
end

-- The retry slot of a client thread (a key that expires) remembers the reply to its last
-- create: a call resent because its reply was lost gets that reply again instead of
-- creating the jobs twice. answered() is that reply for `token`, or nil.
local function answered(slot, token)
  local previous = redis.call('GET', slot)
  if not previous then
    return nil
  end
  local space = string.find(previous, ' ', 1, true)
  if not space or string.sub(previous, 1, space - 1) ~= token then
    return nil
  end
  local result = {'ok'}
  for id in string.gmatch(string.sub(previous, space + 1), '%S+') do
    result[#result + 1] = id
  end
  return result
end

local function remember(slot, token, result)
  redis.call('SET', slot, token .. ' ' .. table.concat(result, ' ', 2), 'EX', 3600)
end
