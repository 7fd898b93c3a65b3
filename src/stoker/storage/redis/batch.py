"""Batched worker steps on Redis: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from stoker.core.records import FetchedJob, StateChange
from stoker.core.states import processing_state
from stoker.storage.common.worker_steps import CombinedSteps, Step, StepResult
from stoker.storage.redis.codec import change_args, dumps, from_us, parse_params, to_us
from stoker.storage.redis.scripts import Scripts


class RedisBatchedSteps(CombinedSteps):
    """Batched worker steps on Redis (see CombinedSteps).

    A step alone is one fetch_next.lua or finish_fetch.lua call; a batch is one steps.lua call
    that runs each step as those scripts would, one after another, so N workers cost one
    round trip and one script call instead of N. Every step keeps its retry tokens."""

    _r: redis.Redis
    _p: str
    _s: Scripts
    _keys: list[str]
    _tokens: itertools.count[int]
    _token_base: str

    def _token(self) -> str:
        """A retry token: unique per call, so a resent script can recognise itself."""
        return f"{self._token_base}{next(self._tokens):x}"

    def _create_slot(self) -> str:
        """This client thread's retry slot: remembers its last create (see create.lua)."""
        return f"{self._p}:creates:{self._token_base}:{threading.get_ident()}"

    def change_state(self, change: StateChange) -> bool:
        args = [self._p, *change_args(change, self._token())]
        return bool(self._call(self._s.change_state, args))

    def _step_args(
        self, queues: tuple[str, ...], server_id: str, step: Step
    ) -> tuple[list[str], list[str]]:
        """change_state.lua's arguments (none for a claim alone) and fetch_next.lua's, after
        the prefix. Both carry the same retry tokens as change_state and fetch_next, so a
        resend after a lost reply answers with the first result instead of claiming twice."""
        changing = [] if step.change is None else change_args(step.change, self._token())
        if not queues:  # an outcome alone: nothing to claim
            return changing, []
        now = to_us(step.now)
        entry = _processing_entry(server_id, step.worker_id, now)
        fetching = [server_id, step.worker_id, now, self._token(), entry, *queues]
        return changing, fetching

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult | BaseException]:
        parts = [self._step_args(queues, server_id, step) for step in steps]
        if len(parts) == 1:
            (changing, fetching), step = parts[0], steps[0]
            if not fetching:
                return [(bool(self._call(self._s.change_state, [self._p, *changing])), None)]
            if step.change is None:
                reply = self._call(self._s.fetch_next, [self._p, *fetching])
            else:
                args = [self._p, str(len(changing)), *changing, *fetching]
                reply = self._call(self._s.finish_fetch, args)
            return [_step_result(step, reply)]
        # One script for the whole batch (steps.lua): one command to pack, send and parse,
        # and one script call for Redis, instead of one EVALSHA per step.
        args = [self._p, str(len(parts))]
        for changing, fetching in parts:
            args += [str(len(changing)), *changing, str(len(fetching)), *fetching]
        replies = self._call(self._s.steps, args)
        return [_batch_reply(step, reply) for step, reply in zip(steps, replies, strict=True)]

    def _call(self, script: Script, args: list[str]) -> Any:
        """EVALSHA the script; after a Redis restart (NOSCRIPT, nothing ran) through the Script,
        which loads it. Calling the Script every time costs a type check per call on the
        hottest paths there are (every step and every enqueue)."""
        try:
            return self._r.evalsha(script.sha, len(self._keys), *self._keys, *args)
        except NoScriptError:
            return script(keys=self._keys, args=args)


@functools.lru_cache(maxsize=1024)
def _processing_parts(server_id: str, worker_id: str) -> tuple[str, str]:
    """state_entry()'s text of a worker's Processing state before and after its time."""
    state = processing_state(server_id, worker_id)
    head = f'{{"n":{dumps(state.name)},"t":'
    return head, f',"r":{dumps(state.reason)},"d":{dumps(state.data())}}}'


def _processing_entry(server_id: str, worker_id: str, now_us: str) -> str:
    """state_entry() of a worker's Processing state, with the per-worker part encoded once."""
    head, tail = _processing_parts(server_id, worker_id)
    return f"{head}{dumps(now_us)}{tail}"


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
