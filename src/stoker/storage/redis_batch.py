"""Batched worker steps on Redis: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import redis

from stoker.storage.base import FetchedJob, StateChange, StateRecord
from stoker.storage.redis_codec import change_args, from_us, parse_params, state_entry, to_us
from stoker.storage.redis_scripts import Scripts
from stoker.storage.worker_steps import CombinedSteps, Step, StepResult


class RedisBatchedSteps(CombinedSteps):
    """Batched worker steps on Redis (see CombinedSteps).

    Each step is still its own atomic script (fetch_next.lua or finish_fetch.lua, with its
    retry token); a batch sends the scripts of every waiting worker in one pipeline, so N
    workers cost one round trip (one write, one read) instead of N. Redis runs the scripts
    one after another, exactly as if they had arrived one by one."""

    _r: redis.Redis
    _p: str
    _s: Scripts
    _keys: list[str]
    _tokens: itertools.count[int]
    _token_base: str

    def _token(self) -> str:
        """A retry token: unique per call, so a resent script can recognise itself."""
        return f"{self._token_base}{next(self._tokens):x}"

    def change_state(self, change: StateChange) -> bool:
        args = [self._p, *change_args(change, self._token())]
        return bool(self._s.change_state(keys=self._keys, args=args))

    def _step_args(
        self, queues: tuple[str, ...], server_id: str, step: Step
    ) -> tuple[list[str], list[str]]:
        """change_state.lua's arguments (none for a claim alone) and fetch_next.lua's, after
        the prefix. Both carry the same retry tokens as change_state and fetch_next, so a
        resend after a lost reply answers with the first result instead of claiming twice."""
        data = {"server_id": server_id, "worker_id": step.worker_id}
        entry = state_entry(StateRecord("Processing", step.now, None, data))
        fetching = [server_id, step.worker_id, to_us(step.now), self._token(), entry, *queues]
        changing = [] if step.change is None else change_args(step.change, self._token())
        return changing, fetching

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult | BaseException]:
        parts = [self._step_args(queues, server_id, step) for step in steps]
        if len(parts) == 1:
            (changing, fetching), step = parts[0], steps[0]
            if step.change is None:
                reply = self._s.fetch_next(keys=self._keys, args=[self._p, *fetching])
            else:
                args = [self._p, str(len(changing)), *changing, *fetching]
                reply = self._s.finish_fetch(keys=self._keys, args=args)
            return [_step_result(step, reply)]
        # One script for the whole batch (steps.lua): one command to pack, send and parse,
        # and one script call for Redis, instead of one EVALSHA per step.
        args = [self._p, str(len(parts))]
        for changing, fetching in parts:
            args += [str(len(changing)), *changing, str(len(fetching)), *fetching]
        replies = self._s.steps(keys=self._keys, args=args)
        return [_batch_reply(step, reply) for step, reply in zip(steps, replies, strict=True)]


def _batch_reply(step: Step, reply: list[Any]) -> StepResult | BaseException:
    """One step's reply from steps.lua as _step_result reads finish_fetch/fetch_next's."""
    if reply[0] == "err":
        return redis.ResponseError(str(reply[1]))
    rest = reply[1:]
    if step.change is None:
        return _step_result(step, rest or None)
    return _step_result(step, rest)


def _step_result(step: Step, reply: Any) -> StepResult:
    if step.change is None:
        return False, fetched_job(reply) if reply else None
    applied, *job = reply
    return bool(int(applied)), fetched_job(job) if job else None


def fetched_job(reply: Sequence[str]) -> FetchedJob:
    job_id, function, args, kwargs, queue, created, enqueued, state_id, *params = reply
    return FetchedJob(
        id=job_id,
        function=function,
        args=args,
        kwargs=kwargs,
        queue=queue,
        params=parse_params(dict(zip(params[::2], params[1::2], strict=True))),
        created_at=from_us(created),
        enqueued_at=from_us(enqueued),
        state_id=int(state_id),
    )
