"""Scheduled jobs by due time on Redis (`Monitor.list_jobs("Scheduled", by_due=True)`).

They are the sorted set P:schedule, the one the scheduler promotes from (enqueue_due.lua):
members enc(id) scored by run_at, so equal scores sort by id, ascending. A soonest-first page is
one ZRANGE by rank. A latest-first page is the ZREVRANGE of the same ranks with each group of
equal run_at read again ascending by rank (see stoker.storage.common.due): ZCOUNT gives where the
group starts, so each group costs O(log N) and nothing is sorted. One read-only script reads a
page, so it is one snapshot.

There is no per-queue due index. With a queue, chunks of SCAN_CHUNK jobs are read in order and
the script keeps the jobs on the queue, until offset + limit of them are found or the schedule
ends: each call is short (Redis serves the workers' scripts in between), and a page reads the
Scheduled jobs of every queue listed up to its last match, not the whole schedule (unless the
queue's jobs come last). A job that changes between two calls can shift the walk by one, as in
any state's queue filter (redis_monitor); no job is listed twice."""

from __future__ import annotations

import redis

SCAN_CHUNK = 500

# ARGV: key prefix, first and last rank, '1' for latest first, queue the jobs must be on
# ('' for any). Returns how many jobs the ranks held, then the ids kept, in page order.
DUE_PAGE_LUA = """
local P, first, last = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local latest, queue = ARGV[4] == '1', ARGV[5]
local key = P .. ':schedule'
local members = {}
if not latest then
  members = redis.call('ZRANGE', key, first, last)
else
  local page = redis.call('ZREVRANGE', key, first, last, 'WITHSCORES')
  local i = 1
  while i < #page do
    local due, n = page[i + 1], 1
    while page[i + 2 * n + 1] == due do
      n = n + 1
    end
    -- ascending rank of the group's lowest id; the page's first group may start before it
    local low = redis.call('ZCOUNT', key, '-inf', '(' .. due)
    if i == 1 then
      low = low + first - redis.call('ZCOUNT', key, '(' .. due, '+inf')
    end
    for _, m in ipairs(redis.call('ZRANGE', key, low, low + n - 1)) do
      members[#members + 1] = m
    end
    i = i + 2 * n
  end
end
local found = {#members}
for _, m in ipairs(members) do
  local id = string.sub(m, 2)
  if queue == '' or redis.call('HGET', P .. ':job:' .. id, 'q') == queue then
    found[#found + 1] = id
  end
end
return found
"""


def due_ids(
    client: redis.Redis, prefix: str, queue: str | None, offset: int, limit: int, latest: bool
) -> list[str]:
    """Ids of one page of Scheduled jobs (on `queue`, if given) by due time."""
    if limit <= 0:
        return []
    script = client.register_script(DUE_PAGE_LUA)
    order = "1" if latest else "0"
    if queue is None:
        reply = script(args=[prefix, offset, offset + limit - 1, order, ""])
        return [str(job_id) for job_id in reply[1:]]
    found: dict[str, None] = {}  # in order, once each even if a job moved between two calls
    first = 0
    while len(found) < offset + limit:
        reply = script(args=[prefix, first, first + SCAN_CHUNK - 1, order, queue])
        found.update(dict.fromkeys(str(job_id) for job_id in reply[1:]))
        if int(reply[0]) < SCAN_CHUNK:
            break
        first += SCAN_CHUNK
    return list(found)[offset : offset + limit]
