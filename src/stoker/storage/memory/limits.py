"""Concurrency slots and rate-limited starts in memory: admit, release_slot, promote_waiting.

Each call is one critical section under the storage's lock, so checking a key and acting on it
is atomic, as in the other storages (see stoker.core.protocols.Storage.admit)."""

from __future__ import annotations

import random
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from stoker.core import reasons
from stoker.core.limits import RESERVATION_GRACE
from stoker.core.records import Admission, Gate, StateChange
from stoker.core.states import Enqueued
from stoker.storage.memory.data import Effects, MemoryData, utc
from stoker.storage.memory.jobs import apply_change, parse_job_id

NOT_ADMITTED = Admission(admitted=False)
HOLDING = ("Enqueued", "Processing")  # a slot counts while its job is in one of these


def _live_slots(data: MemoryData, key: str, other_than: int) -> int:
    """Slots of `key` held by jobs other than `other_than`, dropping those no longer held."""
    slots = data.slots.get(key, {})
    for job_id in [n for n in slots if not _holds(data, n)]:
        del slots[job_id]
    return sum(1 for job_id in slots if job_id != other_than)


def _holds(data: MemoryData, job_id: int) -> bool:
    row = data.jobs.get(job_id)
    return row is not None and row.state.name in HOLDING


def admit(data: MemoryData, gate: Gate, effects: Effects) -> Admission:
    num = parse_job_id(gate.job_id)
    row = data.jobs.get(num) if num is not None else None
    if (
        num is None
        or row is None
        or (row.state.name, row.state_id) != ("Processing", gate.state_id)
    ):
        return NOT_ADMITTED
    key = gate.concurrency_key
    if key is not None and data.lines.get(key):
        # The line is served first: a slot that freed (its job ended a moment ago, its
        # release still to come) goes to the oldest waiter, never to this newer job.
        promote(data, key, utc(gate.now), effects)
    if key is not None and _live_slots(data, key, num) >= gate.concurrency:
        assert gate.waiting is not None, "a gate with a concurrency key carries its waiting state"
        change = StateChange(
            gate.job_id,
            gate.waiting,
            expected_states=("Processing",),
            expected_state_id=gate.state_id,
        )
        if apply_change(data, change, effects):
            line = data.lines.setdefault(key, {})
            line.pop(num, None)
            line[num] = (row.state_id, gate.concurrency)
        return NOT_ADMITTED
    if gate.rate_key is not None:
        reserved = _reserve_start(data, gate, gate.rate_key, num)
        if reserved is not None:
            return Admission(admitted=False, run_at=reserved)
    if key is not None:
        data.slots.setdefault(key, {})[num] = gate.state_id
    return Admission(admitted=True)


def _reserve_start(data: MemoryData, gate: Gate, key: str, num: int) -> datetime | None:
    """None if the job may start now (the start is recorded), else the start it reserved
    (see stoker.core.protocols.Storage.admit). `data.starts[key]` holds (time, job id) pairs:
    a job id marks a start reserved for that job and not used yet."""
    now, period = utc(gate.now), timedelta(seconds=gate.rate_period)
    forgotten = now - period - timedelta(seconds=RESERVATION_GRACE)
    starts = [
        (at, job)
        for at, job in data.starts.get(key, [])
        if at > now - period or (job and at > forgotten)
    ]
    data.starts[key] = starts
    mine = next((index for index, (_, job) in enumerate(starts) if job == num), None)
    if mine is not None:
        return _use_reservation(gate, starts, mine, now, period)
    times = sorted(at for at, _ in starts)
    at = max(now, times[-1]) if times else now
    if len(times) >= gate.rate_count:
        at = max(at, times[-gate.rate_count] + period)
    starts.append((at, None if at <= now else num))
    return None if at <= now else at


def _use_reservation(
    gate: Gate,
    starts: list[tuple[datetime, int | None]],
    mine: int,
    now: datetime,
    period: timedelta,
) -> datetime | None:
    """A job back for its reserved start: too early, it keeps its turn; otherwise it starts if
    the starts really made in the last period allow it, else its turn moves to the first time
    they do."""
    at, job = starts[mine]
    if at > now:
        return at
    made = sorted(when for when, holder in starts if holder is None and when > now - period)
    if len(made) < gate.rate_count:
        starts[mine] = (now, None)
        return None
    turn = made[-gate.rate_count] + period
    starts[mine] = (turn, job)
    return turn


def promote(data: MemoryData, key: str, now: datetime, effects: Effects) -> int:
    """Enqueue the key's oldest waiters while slots are free; each takes its slot at once."""
    held = _live_slots(data, key, 0)
    line = data.lines.get(key, {})
    promoted = 0
    while line:
        job_id, (state_id, concurrency) = next(iter(line.items()))
        if held >= concurrency:
            break
        del line[job_id]
        row = data.jobs.get(job_id)
        if row is None:
            continue
        record = Enqueued(queue=row.queue, reason=reasons.slot_freed(key)).to_record(now)
        change = StateChange(
            str(job_id), record, expected_states=("Awaiting",), expected_state_id=state_id
        )
        if apply_change(data, change, effects):
            data.slots.setdefault(key, {})[job_id] = row.state_id
            held += 1
            promoted += 1
    if not line:
        data.lines.pop(key, None)
    return promoted


def give_back(
    data: MemoryData, key: str, num: int | None, state_id: int, now: datetime, effects: Effects
) -> int:
    """Drop the slot job `num` took under claim `state_id`, then serve the key's line."""
    slots = data.slots.get(key, {})
    if num is not None and slots.get(num) == state_id:
        del slots[num]
    return promote(data, key, now, effects)


def give_back_slot(data: MemoryData, change: StateChange, effects: Effects) -> None:
    """StateChange.release_slot, in the change's critical section."""
    if change.release_slot is not None and change.expected_state_id is not None:
        num = parse_job_id(change.job_id)
        now = utc(change.state.created_at)
        give_back(data, change.release_slot, num, change.expected_state_id, now, effects)


class MemoryLimits:
    """Storage.admit, release_slot and promote_waiting, each one critical section."""

    if TYPE_CHECKING:  # MemoryStorage's: one atomic write with its effects

        def _write(self) -> AbstractContextManager[tuple[MemoryData, Effects]]: ...

    def admit(self, gate: Gate) -> Admission:
        with self._write() as (data, effects):
            return admit(data, gate, effects)

    def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int:
        with self._write() as (data, effects):
            return give_back(data, key, parse_job_id(job_id), state_id, utc(now), effects)

    def promote_waiting(self, now: datetime, limit: int) -> int:
        with self._write() as (data, effects):
            keys = random.sample(list(data.lines), min(len(data.lines), max(0, limit)))
            return sum(promote(data, key, utc(now), effects) for key in keys)
