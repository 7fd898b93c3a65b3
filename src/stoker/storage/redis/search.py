"""Lua reads of the Redis monitor, where one script replaces thousands of commands.

Text search: one script matches a chunk of a state's newest jobs inside Redis, instead of
sending every job's function and arguments to the client. Records: one script returns a page's
job hashes, current states and parameters (three commands per job in a pipeline cost the client
more than the reads cost Redis).

The search text reaches the script as an argument (ARGV), never as part of its code, and is
compared with a plain find (no Lua patterns). Chunks of CHUNK jobs keep each call short, so a
search never blocks the workers' scripts for long."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from stoker.core.search import ascii_lower, searched_id

CHUNK = 2_000

# ARGV: key prefix, index key, first and last rank (newest first), lower-cased needle, queue
# the job must be on ('' for any). Returns id, score, id, score... of the matching jobs.
SEARCH_LUA = """
local P, index, first, last = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local needle, queue = ARGV[5], ARGV[6]
local members = redis.call('ZREVRANGE', index, first, last, 'WITHSCORES')
local found = {}
local function has(text)
  return text and string.find(string.lower(text), needle, 1, true) ~= nil
end
for i = 1, #members, 2 do
  local id = string.sub(members[i], 2)
  local job = redis.call('HMGET', P .. ':job:' .. id, 'f', 'a', 'k', 'q')
  local wanted = job[1] and (queue == '' or job[4] == queue)
  if wanted and (has(job[1]) or has(job[2]) or has(job[3])) then
    found[#found + 1] = id
    found[#found + 1] = members[i + 1]
  end
end
return found
"""


# ARGV: key prefix, then job ids. Returns, per job: its hash (flat), its last history entry
# (false if none) and its parameter hash (flat). Read-only, one page of jobs at most.
RECORDS_LUA = """
local P = ARGV[1]
local found = {}
for i = 2, #ARGV do
  local key = P .. ':job:' .. ARGV[i]
  found[#found + 1] = redis.call('HGETALL', key)
  found[#found + 1] = redis.call('LINDEX', key .. ':history', -1)
  found[#found + 1] = redis.call('HGETALL', key .. ':params')
end
return found
"""


def job_parts(
    client: redis.Redis, prefix: str, ids: Sequence[str]
) -> list[tuple[dict[str, str], str | None, dict[str, str]]]:
    """(job hash, current state entry, parameter hash) of each id, in one script call."""
    if not ids:
        return []
    reply = client.register_script(RECORDS_LUA)(args=[prefix, *ids])
    return [
        (_pairs(reply[i]), reply[i + 1] or None, _pairs(reply[i + 2]))
        for i in range(0, len(reply), 3)
    ]


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def window_matches(
    client: redis.Redis, prefix: str, index: str, queue: str | None, search: str, window: int
) -> list[tuple[Any, str]]:
    """(order key, id) of the jobs among the newest `window` of `index` whose function name
    or arguments contain `search`, newest first."""
    script = client.register_script(SEARCH_LUA)
    needle = ascii_lower(search.strip())
    found: list[tuple[Any, str]] = []
    for first in range(0, max(0, window), CHUNK):
        last = min(first + CHUNK, window) - 1
        reply = script(args=[prefix, index, first, last, needle, queue or ""])
        for i in range(0, len(reply), 2):
            job_id = str(reply[i])
            found.append(((float(reply[i + 1]), len(job_id), job_id), job_id))
        if int(client.zcard(index)) <= last + 1:
            break
    return found


def id_match(
    client: redis.Redis, prefix: str, state: str, queue: str | None, search: str
) -> tuple[Any, str] | None:
    """(order key, id) of the job whose id is `search`, if it is in `state` (and `queue`)."""
    job_id = searched_id(search)
    if not (job_id.isascii() and job_id.isdigit()):
        return None  # ids are numbers: anything else could name another kind of key
    name, job_queue, at = client.hmget(f"{prefix}:job:{job_id}", "s", "q", "t")
    if name != state or (queue is not None and job_queue != queue) or at is None:
        return None
    return (float(at), len(job_id), job_id), job_id
