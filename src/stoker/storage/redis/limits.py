"""Concurrency slots and rate-limited starts on Redis: admit, release_slot, promote_waiting.

Each step is one Lua script (lua/limits_fn.lua has the shared parts): checking a key and acting
on it is atomic, so a job parked for a slot is always seen by the release that frees one. A
resent script is safe: a resent admit finds the job parked (not admitted) or admits it again,
a resent release only looks for waiters again."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.commands.core import Script

from stoker.core.limits import RESERVATION_GRACE
from stoker.core.records import Admission, Gate
from stoker.storage.redis.codec import from_us, state_entry, to_us
from stoker.storage.redis.scripts import Scripts


class RedisLimits:
    """Storage.admit, release_slot and promote_waiting, one script each."""

    _s: Scripts

    if TYPE_CHECKING:  # RedisStorage's: runs a script with the key prefix first

        def _run(self, script: Script, *args: str) -> Any: ...

    def admit(self, gate: Gate) -> Admission:
        waiting = state_entry(gate.waiting) if gate.waiting is not None else ""
        reply = self._run(
            self._s.admit,
            gate.job_id,
            str(gate.state_id),
            to_us(gate.now),
            gate.concurrency_key or "",
            str(gate.concurrency),
            waiting,
            gate.rate_key or "",
            str(gate.rate_count),
            str(round(gate.rate_period * 1_000_000)),
            str(round(RESERVATION_GRACE * 1_000_000)),
        )
        if int(reply[0]) == 1:
            return Admission(admitted=True)
        run_at = from_us(reply[1]) if len(reply) > 1 else None
        return Admission(admitted=False, run_at=run_at)

    def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int:
        return int(self._run(self._s.release_slot, key, job_id, str(state_id), to_us(now)))

    def promote_waiting(self, now: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        return int(self._run(self._s.promote_waiting, to_us(now), str(limit)))
