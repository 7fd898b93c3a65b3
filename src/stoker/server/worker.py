"""A worker thread: fetch a job into Processing, run it, and record Succeeded or Failed."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stoker.core import codec, reasons
from stoker.core.context import JobContext
from stoker.core.errors import (
    JobDefinitionError,
    JobNotAllowedError,
    ServerCrashedError,
)
from stoker.core.jobs import check_allowed, crash_count, is_marked, resolve
from stoker.core.limits import limits_of
from stoker.core.log_fields import log_fields
from stoker.core.observers import notify_ran, notify_started
from stoker.core.records import Claim, FetchedJob
from stoker.core.state_machine import FetchRequest
from stoker.core.states import Enqueued, State
from stoker.server.gate import PERMANENT, admit_claimed
from stoker.server.handoff import AsyncRun, hand_off
from stoker.server.outage import Backoff
from stoker.server.outcomes import crashed_state, failed_state, succeeded_state
from stoker.server.runner import RunningJob, run_job, timeout_of

if TYPE_CHECKING:
    from stoker.server.context import ServerContext

log = logging.getLogger("stoker.worker")
# Seconds after a failed claiming call before the worker looks for a lost claim a second time.
LATE_CLAIM_RECHECK = 30.0


class Worker(threading.Thread):
    """Runs jobs one after another until the server stops."""

    def __init__(self, server: ServerContext, number: int) -> None:
        super().__init__(name=f"stoker-worker-{number}", daemon=True)
        self.server = server
        self.worker_id = f"worker-{number}"
        self._functions: dict[str, Callable[..., Any]] = {}
        self._fetch_request = FetchRequest(server.options.queues, server.id, self.worker_id)
        # An async job's outcome, stored alone (no queues: nothing is claimed with it).
        self._no_fetch = FetchRequest((), server.id, self.worker_id)
        # When to look for claims whose reply was lost (see _doubt_claims), soonest first.
        self._claim_checks: list[float] = []

    def run(self) -> None:
        server = self.server
        backoff = Backoff()
        while not server.stopping.is_set():
            if self._claim_check_due() and not self._recover_lost_claims(holding=None):
                server.stopping.wait(backoff.next_delay())
                continue
            error: Exception | None = None
            with server.isolation.shared():
                try:
                    fetched = server.storage.fetch_next(
                        server.options.queues, server.id, self.worker_id, server.clock.now()
                    )
                except Exception as exc:
                    fetched, error = None, exc
                    self._doubt_claims()
                if fetched is not None:
                    server.outage.succeeded()
                    backoff.reset()
                    self._run_chain(fetched)
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
        # Stopping: one last look, so that a peer need not requeue a lost claim as a crash.
        if self._claim_checks and not server.killed.is_set():
            self._recover_lost_claims(holding=None)

    def _doubt_claims(self) -> None:
        """A claiming call raised: it may have claimed a job whose reply never came. Look at
        once, and once more later: a statement still running on the database when the
        connection broke (waiting for a row lock, say) commits after the first look."""
        now = time.monotonic()
        self._claim_checks = [now, now + LATE_CLAIM_RECHECK]

    def _claim_check_due(self) -> bool:
        return bool(self._claim_checks) and self._claim_checks[0] <= time.monotonic()

    def _recover_lost_claims(self, holding: FetchedJob | None) -> bool:
        """Requeue the jobs the storage lists as claimed by this worker, except the one it
        holds; True once that is done.

        A claiming call that raised may still have committed (the connection dropped after
        the commit, taking the reply with it). Its job sits in Processing under this live
        server, so no watchdog would ever requeue it. A worker holds one job at a time (and
        the async jobs it handed off, which the server tracks as running), so every other
        claim listed under its id is such a lost one. Requeued, not run: the
        history shows what happened, and the fenced change does nothing if the job moved on
        meanwhile."""
        server = self.server
        # Async jobs this worker handed to the event loop are claimed under its id too.
        running = {(job.context.id, job.state_id) for job in server.running_jobs()}
        try:
            for claim in server.storage.claimed_jobs(server.id, self.worker_id):
                if _is_held(claim, holding) or (claim.job_id, claim.state_id) in running:
                    continue
                requeued = server.state_machine.change(
                    claim.job_id,
                    Enqueued(queue=claim.queue, reason=reasons.LOST_CLAIM),
                    expected_states=("Processing",),
                    expected_state_id=claim.state_id,
                )
                if requeued:
                    log.warning(
                        "Requeued job %s: its claim's reply was lost",
                        claim.job_id,
                        extra=log_fields(server.id, claim.job_id, None, claim.queue),
                    )
        except Exception as exc:
            server.outage.failed("recovering a lost claim", exc)
            return False
        del self._claim_checks[0]
        return True

    def _run_chain(self, fetched: FetchedJob) -> None:
        """Run jobs one after another while finishing each one claims the next. A job in hand
        is always run, even once the server is stopping: it is already in Processing under
        this server, exactly like a job fetched just before the stop."""
        next_job: FetchedJob | None = fetched
        while next_job is not None:
            if self._claim_check_due():  # if it fails, the next chance is as good
                self._recover_lost_claims(holding=next_job)
            next_job = self._run_fetched(next_job)

    def _run_fetched(self, fetched: FetchedJob) -> FetchedJob | None:
        """Run the job once its limits admit it; one with a server crash on record runs alone
        (see CrashIsolation)."""
        if not self._admitted(fetched):
            return None
        crashes = crash_count(fetched.params)
        if crashes == 0 or crashes >= self.server.options.max_crashes:
            return self._perform(fetched, chain=True)
        with self.server.isolation.alone() as alone:
            if alone:
                return self._perform(fetched, chain=False)
        # Another suspect runs alone first; run both side by side and a crash would be blamed on
        # both. Back to the queue (no crash counted): it is fetched again when it is its turn.
        reason = reasons.CRASHED_JOB_RUNS_ALONE
        self.finish(fetched, Enqueued(queue=fetched.queue, reason=reason), None)
        return None

    def _admitted(self, fetched: FetchedJob) -> bool:
        """Whether the claimed job's limits let it run now (see stoker.server.gate)."""
        try:
            limits = limits_of(fetched.function, fetched.params)
            return limits is None or admit_claimed(self.server, fetched, limits, self._defer)
        except PERMANENT as exc:  # limits written by hand or by another program
            self.finish(fetched, failed_state(exc), exc)
            return False

    def _defer(self, fetched: FetchedJob, state: State, release: str | None) -> None:
        self._store_outcome(fetched, state, None, release)

    def perform(self, fetched: FetchedJob) -> None:
        """Run the job once its limits admit it, and store its outcome; never raises."""
        if self._admitted(fetched):
            self._perform(fetched, chain=False)

    def _perform(self, fetched: FetchedJob, *, chain: bool) -> FetchedJob | None:
        """Run the job and store its outcome; with `chain`, claim the next job in the same
        storage call and return it. Never raises.

        With `chain` (an ordinary job, not one running alone) an `async def` job is handed to
        the event loop instead: the worker returns None at once and fetches again, and a
        finisher thread stores the outcome when the task ends (see AsyncJobs)."""
        server = self.server
        started = server.clock.now()
        latency_ms = max(0.0, (started - fetched.enqueued_at).total_seconds() * 1000)
        running = self._running_job(fetched)
        crashes = crash_count(fetched.params)
        if crashes >= server.options.max_crashes:
            return self.finish(fetched, crashed_state(crashes), ServerCrashedError(), chain)
        server.track(running)
        observers = server.runtime.observers
        notify_started(observers, fetched, latency_ms / 1000)
        begin = time.perf_counter()
        try:
            func, args, kwargs = self._resolve(fetched)
            if chain and inspect.iscoroutinefunction(func):
                run = AsyncRun(fetched, running, latency_ms, self._store_async_outcome)
                hand_off(server, run, func, args, kwargs)
                return None
            filters = server.runtime.perform_filters
            result = run_job(func, args, kwargs, running, server.async_loop, filters)
        except BaseException as exc:  # a job's failure of any kind is recorded, even SystemExit
            server.untrack(running)
            notify_ran(observers, fetched, "Failed", time.perf_counter() - begin)
            return self.finish(fetched, failed_state(exc), exc, chain)
        server.untrack(running)
        duration_ms = (time.perf_counter() - begin) * 1000
        state, error = succeeded_state(fetched, result, latency_ms, duration_ms)
        notify_ran(observers, fetched, state.name, duration_ms / 1000)
        return self.finish(fetched, state, error, chain)

    def _running_job(self, fetched: FetchedJob) -> RunningJob:
        context = JobContext(
            id=fetched.id,
            function=fetched.function,
            queue=fetched.queue,
            params=fetched.params,
            storage=self.server.storage,
            clock=self.server.clock,
            server_id=self.server.id,
        )
        return RunningJob(
            context, fetched.state_id, threading.get_ident(), timeout_of(fetched.params)
        )

    def _resolve(self, fetched: FetchedJob) -> tuple[Callable[..., Any], list[Any], dict[str, Any]]:
        """The job's function (checked against the job policy) and its decoded arguments."""
        func = self._functions.get(fetched.function)
        if func is None:
            check_allowed(fetched.function, self.server.runtime.allowed_modules)
            func = resolve(fetched.function)
            if self.server.runtime.require_marked_jobs and not is_marked(func):
                raise JobNotAllowedError(
                    f"{fetched.function} is not marked with @stoker.job; this server only runs "
                    "marked functions (require_marked_jobs=True)"
                )
            self._functions[fetched.function] = func
        return func, codec.loads(fetched.args), codec.loads(fetched.kwargs)

    def finish(
        self,
        fetched: FetchedJob,
        state: State,
        exc: BaseException | None,
        chain: bool = False,
    ) -> FetchedJob | None:
        """Store the outcome, retrying through storage outages; with `chain` (and the server
        not stopping), claim the next job in the same storage call and return it.

        The change is fenced by the Processing state's id: if the job was deleted, requeued or
        given to another server meanwhile, nothing is written (the newer decision wins). If the
        server is killed before this succeeds, the job stays Processing under a server that
        stops heartbeating, and the watchdog of another server requeues it: at-least-once.
        """
        server = self.server
        # No chaining while a job with a crash on record waits to run alone: this worker must
        # leave the shared gate for it (see CrashIsolation).
        next_job: FetchedJob | None = None
        if chain and not server.stopping.is_set() and not server.isolation.contended():
            try:
                next_job = self._finish_and_fetch(fetched, state, exc, self._fetch_request)
                server.outage.succeeded()
                return next_job
            except Exception as error:
                # Retried below as a plain change: if the failed call did apply, the state id
                # no longer matches and the retry writes nothing (never a second outcome). The
                # next job it may have claimed is requeued once it is found (_doubt_claims).
                server.outage.failed(f"finishing job {fetched.id}", error)
                self._doubt_claims()
        self._store_outcome(fetched, state, exc, slot_key(fetched))
        return None

    def _store_async_outcome(
        self, fetched: FetchedJob, state: State, exc: BaseException | None
    ) -> None:
        """Store an async job's outcome; the outcomes that finisher threads store at the same
        moment go to the storage together (one round trip on PostgreSQL and Redis)."""
        try:
            self._finish_and_fetch(fetched, state, exc, self._no_fetch)
            self.server.outage.succeeded()
        except Exception as error:
            # Retried as a plain change: if the failed call did apply, the state id no longer
            # matches and the retry writes nothing (never a second outcome).
            self.server.outage.failed(f"finishing job {fetched.id}", error)
            self._store_outcome(fetched, state, exc, slot_key(fetched))

    def _finish_and_fetch(
        self, fetched: FetchedJob, state: State, exc: BaseException | None, fetch: FetchRequest
    ) -> FetchedJob | None:
        """The outcome, fenced by the Processing state's id, and the claim `fetch` asks for."""
        _, next_job = self.server.state_machine.finish_and_fetch(
            fetched.id,
            state,
            expected_state_id=fetched.state_id,
            function=fetched.function,
            queue=fetched.queue,
            params=fetched.params,
            exception=exc,
            fetch=fetch,
            release_slot=slot_key(fetched),
        )
        return next_job

    def _store_outcome(
        self,
        fetched: FetchedJob,
        state: State,
        exc: BaseException | None,
        release: str | None = None,
    ) -> None:
        """The outcome as a plain change, retried through outages; with `release`, the job's
        concurrency slot of that key is given back in the same step."""
        server = self.server
        backoff = Backoff()
        while True:
            try:
                server.state_machine.change(
                    fetched.id,
                    state,
                    expected_states=("Processing",),
                    expected_state_id=fetched.state_id,
                    function=fetched.function,
                    queue=fetched.queue,
                    params=fetched.params,
                    exception=exc,
                    release_slot=release,
                )
                server.outage.succeeded()
                return
            except Exception as error:
                server.outage.failed(f"finishing job {fetched.id}", error)
                if server.killed.wait(backoff.next_delay()):
                    return


def slot_key(fetched: FetchedJob) -> str | None:
    """The concurrency key whose slot the job may hold; None if it has no concurrency limit
    or its limits do not parse (it never held a slot)."""
    try:
        limits = limits_of(fetched.function, fetched.params)
    except JobDefinitionError:
        return None
    return limits.concurrency_key if limits is not None else None


def _is_held(claim: Claim, holding: FetchedJob | None) -> bool:
    """Whether `claim` is the job the worker holds (state ids are per job on SQLite)."""
    return holding is not None and (claim.job_id, claim.state_id) == (holding.id, holding.state_id)
