"""Batched worker steps on Redis: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

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

    def _step_call(
        self, queues: tuple[str, ...], server_id: str, step: Step
    ) -> tuple[Any, list[str]]:
        """The script and its arguments (after the prefix) for one step."""
        # Both halves carry the same retry tokens as change_state and fetch_next, so a resend
        # after a lost reply answers with the first result instead of claiming a second job.
        entry = state_entry(
            StateRecord(
                "Processing", step.now, None, {"server_id": server_id, "worker_id": step.worker_id}
            )
        )
        fetching = [server_id, step.worker_id, to_us(step.now), self._token(), entry, *queues]
        if step.change is None:
            return self._s.fetch_next, fetching
        changing = change_args(step.change, self._token())
        return self._s.finish_fetch, [str(len(changing)), *changing, *fetching]

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult | BaseException]:
        calls = [self._step_call(queues, server_id, step) for step in steps]
        if len(calls) == 1:
            script, args = calls[0]
            return [_step_result(steps[0], script(keys=self._keys, args=[self._p, *args]))]
        # EVALSHA by hand: a pipeline given Script objects first asks SCRIPT EXISTS, a second
        # round trip per batch. A script missing after a Redis restart fails with NOSCRIPT
        # without running; that step alone is sent again through its Script, which loads it.
        pipe = self._r.pipeline(transaction=False)
        for script, args in calls:
            pipe.evalsha(script.sha, len(self._keys), *self._keys, self._p, *args)
        replies = pipe.execute(raise_on_error=False)
        results: list[StepResult | BaseException] = []
        for step, (script, args), reply in zip(steps, calls, replies, strict=True):
            if isinstance(reply, NoScriptError):
                reply = script(keys=self._keys, args=[self._p, *args])
            results.append(reply if isinstance(reply, BaseException) else _step_result(step, reply))
        return results


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
