"""Handing an `async def` job from its worker to the server's event loop, and storing its end."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stoker.core import reasons
from stoker.core.log_fields import log_fields
from stoker.core.observers import notify_ran
from stoker.core.records import FetchedJob
from stoker.core.states import Failed, State
from stoker.server.outcomes import failed_state, succeeded_state
from stoker.server.runner import RunningJob, async_result, start_async

if TYPE_CHECKING:
    from stoker.server.context import ServerContext

log = logging.getLogger("stoker.worker")
Store = Callable[[FetchedJob, State, BaseException | None], None]


@dataclass(frozen=True)
class AsyncRun:
    """One async job handed to the event loop: what storing its outcome needs."""

    fetched: FetchedJob
    running: RunningJob
    latency_ms: float
    store: Store  # the worker's way of storing an outcome, retrying through outages


def hand_off(
    server: ServerContext,
    run: AsyncRun,
    func: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
) -> None:
    """Start the job as a task once a slot is free; a finisher thread stores its outcome.

    The job stays tracked as running (timeouts, cancellation, shutdown, lost-claim checks)
    and holds a crash-isolation share and a slot until its outcome is stored. A fetched job
    is run even if the server is stopping, like a sync one. Only a kill gives up: the job
    stays tracked, and the shutdown gives it back to its queue."""
    if not server.async_jobs.take_slot(server.killed):
        return
    server.isolation.add_share()
    try:
        begin = time.perf_counter()
        filters = server.runtime.perform_filters
        future = start_async(func, args, kwargs, run.running, server.async_loop, filters)
    except BaseException:
        server.isolation.leave_share()
        server.async_jobs.free_slot()
        raise

    def ended(_: Future[Any]) -> None:  # on the event loop: never wait for the storage here
        duration_ms = (time.perf_counter() - begin) * 1000
        finish = functools.partial(finish_async, server, run, future, duration_ms)
        server.async_jobs.finish_later(finish, release=functools.partial(release, server, run))

    future.add_done_callback(ended)


def finish_async(
    server: ServerContext, run: AsyncRun, future: Future[Any], duration_ms: float
) -> None:
    """On a finisher thread: store the outcome, then let the job go (slot, share, tracking)."""
    try:
        if future.cancelled() and server.killed.is_set() and not run.running.timed_out:
            return  # cancelled by the shutdown, which gave the job back to its queue
        state, error = outcome(run, future, duration_ms)
        notify_ran(server.runtime.observers, run.fetched, state.name, duration_ms / 1000)
        run.store(run.fetched, state, error)
    except BaseException:
        job = run.fetched
        fields = log_fields(server.id, job.id, job.function, job.queue)
        log.exception("could not store the outcome of job %s", job.id, extra=fields)
    finally:
        release(server, run)


def outcome(
    run: AsyncRun, future: Future[Any], duration_ms: float
) -> tuple[State, BaseException | None]:
    """Succeeded with the result, or Failed with what the job raised (or why it stopped)."""
    try:
        try:
            result = async_result(future, run.running)
        except BaseException as exc:  # recorded like a sync job's failure
            return failed_state(exc), exc
        return succeeded_state(run.fetched, result, run.latency_ms, duration_ms)
    except BaseException as exc:  # a result or an exception that cannot even be described
        name = type(exc).__qualname__
        message = "the job's result or exception could not be turned into text"
        reason = reasons.job_failed(name, "")
        return Failed(exception_type=name, message=message, reason=reason), exc


def release(server: ServerContext, run: AsyncRun) -> None:
    """The job no longer runs here: untrack it, leave its share, free its slot."""
    server.untrack(run.running)
    server.isolation.leave_share()
    server.async_jobs.free_slot()
