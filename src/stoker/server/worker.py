"""A worker thread: fetch a job into Processing, run it, and record Succeeded or Failed."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stoker import codec
from stoker.context import JobContext
from stoker.errors import (
    ArgumentEncodingError,
    JobNotAllowedError,
    ResultEncodingError,
    ServerCrashedError,
)
from stoker.jobs import check_allowed, is_marked, resolve
from stoker.server.outage import Backoff
from stoker.server.runner import RunningJob, deadline_for, run_job
from stoker.states import Enqueued, Failed, State, Succeeded
from stoker.storage.base import FetchedJob

if TYPE_CHECKING:
    from stoker.server.server import Server

log = logging.getLogger("stoker.worker")
MAX_TRACEBACK = 20_000


class Worker(threading.Thread):
    """Runs jobs one after another until the server stops."""

    def __init__(self, server: Server, number: int) -> None:
        super().__init__(name=f"stoker-worker-{number}", daemon=True)
        self.server = server
        self.worker_id = f"worker-{number}"
        self._functions: dict[str, Callable[..., Any]] = {}

    def run(self) -> None:
        server = self.server
        backoff = Backoff()
        while not server.stopping.is_set():
            error: Exception | None = None
            with server.isolation.shared():
                try:
                    fetched = server.storage.fetch_next(
                        server.options.queues, server.id, self.worker_id, server.clock.now()
                    )
                except Exception as exc:
                    fetched, error = None, exc
                if fetched is not None:
                    server.outage.succeeded()
                    backoff.reset()
                    self._run_fetched(fetched)
                    continue
            try:
                if error is not None:
                    raise error
                server.storage.wait_for_jobs(server.options.queues, server.options.poll_interval)
                server.outage.succeeded()
                backoff.reset()
            except Exception as exc:
                server.outage.failed("fetching jobs", exc)
                server.stopping.wait(backoff.next_delay())

    def _run_fetched(self, fetched: FetchedJob) -> None:
        """Run the job; one with a server crash on record runs alone (see CrashIsolation)."""
        crashes = int(fetched.params.get("crashes", 0))
        if crashes == 0 or crashes >= self.server.options.max_crashes:
            self.perform(fetched)
            return
        with self.server.isolation.alone() as alone:
            if alone:
                self.perform(fetched)
                return
        # Another suspect runs alone first; run both side by side and a crash would be blamed on
        # both. Back to the queue (no crash counted): it is fetched again when it is its turn.
        reason = "Another job that crashed its server runs alone first"
        self.finish(fetched, Enqueued(queue=fetched.queue, reason=reason), None)

    def perform(self, fetched: FetchedJob) -> None:
        """Run the job and store its outcome; never raises."""
        server = self.server
        started = server.clock.now()
        latency_ms = max(0.0, (started - fetched.enqueued_at).total_seconds() * 1000)
        context = JobContext(
            id=fetched.id,
            function=fetched.function,
            queue=fetched.queue,
            params=fetched.params,
            storage=server.storage,
            clock=server.clock,
        )
        running = RunningJob(
            context, fetched.state_id, threading.get_ident(), deadline_for(fetched.params)
        )
        crashes = int(fetched.params.get("crashes", 0))
        if crashes >= server.options.max_crashes:
            self.finish(fetched, _crashed_state(crashes), ServerCrashedError())
            return
        server.track(running)
        begin = time.perf_counter()
        try:
            result = self._call(fetched, running)
        except BaseException as exc:  # a job's failure of any kind is recorded, even SystemExit
            server.untrack(running)
            self.finish(fetched, failed_state(exc), exc)
            return
        server.untrack(running)
        try:
            encoded = codec.to_json_value(result, f"the result of {fetched.function}")
        except ArgumentEncodingError as exc:
            error = ResultEncodingError(str(exc))
            self.finish(fetched, failed_state(error), error)
            return
        duration_ms = (time.perf_counter() - begin) * 1000
        self.finish(fetched, Succeeded(encoded, round(latency_ms, 3), round(duration_ms, 3)), None)

    def _call(self, fetched: FetchedJob, running: RunningJob) -> Any:
        func = self._functions.get(fetched.function)
        if func is None:
            check_allowed(fetched.function, self.server.app.allowed_modules)
            func = resolve(fetched.function)
            if self.server.app.require_marked_jobs and not is_marked(func):
                raise JobNotAllowedError(
                    f"{fetched.function} is not marked with @stoker.job; this server only runs "
                    "marked functions (require_marked_jobs=True)"
                )
            self._functions[fetched.function] = func
        args: list[Any] = codec.loads(fetched.args)
        kwargs: dict[str, Any] = codec.loads(fetched.kwargs)
        return run_job(func, args, kwargs, running, self.server.async_loop)

    def finish(self, fetched: FetchedJob, state: State, exc: BaseException | None) -> None:
        """Store the outcome, retrying through storage outages.

        The change is fenced by the Processing state's id: if the job was deleted, requeued or
        given to another server meanwhile, nothing is written (the newer decision wins). If the
        server is killed before this succeeds, the job stays Processing under a server that
        stops heartbeating, and the watchdog of another server requeues it: at-least-once.
        """
        server = self.server
        backoff = Backoff()
        while True:
            try:
                server.app.state_machine.change(
                    fetched.id,
                    state,
                    expected_states=("Processing",),
                    expected_state_id=fetched.state_id,
                    function=fetched.function,
                    queue=fetched.queue,
                    params=fetched.params,
                    exception=exc,
                )
                server.outage.succeeded()
                return
            except Exception as error:
                server.outage.failed(f"finishing job {fetched.id}", error)
                if server.killed.wait(backoff.next_delay()):
                    return


def failed_state(exc: BaseException) -> Failed:
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    text = "".join(traceback.format_exception(exc))
    return Failed(
        exception_type=name,
        message=str(exc)[:4000],
        traceback=text[-MAX_TRACEBACK:],
        reason=f"{name}: {exc}"[:500] if str(exc) else name,
    )


def _crashed_state(crashes: int) -> Failed:
    message = (
        f"the server running this job died {crashes} times (killed, out of memory, or the job "
        "crashed its process); it is not run again automatically. Requeue it to try again."
    )
    return Failed(
        exception_type="stoker.errors.ServerCrashedError",
        message=message,
        reason=f"Gave up after {crashes} server crashes",
    )
