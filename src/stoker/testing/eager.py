"""Run an App's jobs eagerly in the test's own thread: `run_until_idle(app)` and EagerRunner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from stoker.core.records import FetchedJob
from stoker.core.runtime import Runtime
from stoker.core.states import State
from stoker.server import background
from stoker.server.context import ServerContext
from stoker.server.options import ServerOptions
from stoker.server.worker import Worker, slot_key

DEFAULT_MAX_JOBS = 1000


class HasRuntime(Protocol):
    """An App (or any client of one): what the runner takes its storage, clock and rules from."""

    @property
    def runtime(self) -> Runtime: ...


class NotIdleError(RuntimeError):
    """`run_until_idle` ran `max_jobs` jobs and there was still work: most likely a job that
    enqueues itself again and again."""


@dataclass(frozen=True)
class RanJob:
    """One job the runner ran: its id, its function, the state its outcome left it in
    (Succeeded, Failed, or Scheduled for a retry), and what it raised, if anything."""

    id: str
    function: str
    state: str
    error: BaseException | None = None


@dataclass(frozen=True)
class EagerRun:
    """What one `run_until_idle` did, in the order the jobs ran."""

    jobs: tuple[RanJob, ...]

    @property
    def ids(self) -> list[str]:
        return [job.id for job in self.jobs]

    @property
    def errors(self) -> list[RanJob]:
        """The runs that raised (retried or not)."""
        return [job for job in self.jobs if job.error is not None]


class _EagerWorker(Worker):
    """A worker driven by the runner's calls instead of its own thread (never started): each
    job runs exactly as a server's worker runs it, and its outcome is stored at once."""

    def __init__(self, server: ServerContext) -> None:
        super().__init__(server, 1)
        self.last: tuple[FetchedJob, BaseException | None] | None = None

    def finish(
        self,
        fetched: FetchedJob,
        state: State,
        exc: BaseException | None,
        chain: bool = False,
    ) -> FetchedJob | None:
        # The state machine's change, as a worker stores an outcome, but a storage error is
        # raised to the test instead of being retried until the server stops.
        self.server.state_machine.change(
            fetched.id,
            state,
            expected_states=("Processing",),
            expected_state_id=fetched.state_id,
            function=fetched.function,
            queue=fetched.queue,
            params=fetched.params,
            exception=exc,
            release_slot=slot_key(fetched),
        )
        self.last = (fetched, exc)
        return None


class EagerRunner:
    """Runs the jobs of `app` in the calling thread, one at a time, oldest first.

    Each run promotes the Scheduled jobs that are due by the App's clock and fires the due
    recurring jobs, exactly as a server's schedulers do, then claims and runs jobs through the
    same worker code, state machine and filters as a server (retries, continuations,
    statistics) until nothing is left to run now. Inject a `stoker.testing.clock.FakeClock`
    into the App to step time for delayed, retried and recurring jobs.

    `queues` limits it to those queues, in priority order (like a server's); by default it
    runs every queue's jobs oldest first. With `raise_errors` (the default) the first job that
    raises stops the run and its exception is raised to the test, after its outcome (Failed,
    or a retry) was stored. `async def` jobs run to their end on the runner's event loop
    thread while the caller waits. Job timeouts (`timeout_s`) are not enforced: no supervisor
    thread watches the job.
    """

    def __init__(
        self,
        app: HasRuntime,
        *,
        queues: Sequence[str] | None = None,
        raise_errors: bool = True,
        max_jobs: int = DEFAULT_MAX_JOBS,
    ) -> None:
        if isinstance(queues, str):
            raise TypeError("queues is a list of queue names, not one string")
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise ValueError(f"max_jobs must be an int >= 1, got {max_jobs!r}")
        # ServerOptions checks the queue names (and refuses an empty list).
        options = ServerOptions(
            queues=tuple(queues) if queues is not None else ("default",), workers=1, name="eager"
        )
        self._queues = tuple(options.queues) if queues is not None else None
        self.raise_errors = raise_errors
        self.max_jobs = max_jobs
        self._server = ServerContext(app.runtime, options)
        self._worker = _EagerWorker(self._server)

    @property
    def server_id(self) -> str:
        """The id the runner's claims carry (it is registered as a server while it runs)."""
        return self._server.id

    def run_until_idle(self) -> EagerRun:
        """Run jobs until none is due now; NotIdleError after `max_jobs` of them."""
        server = self._server
        server.announce()  # a live server: no watchdog takes its running job away
        ran: list[RanJob] = []
        try:
            while (queues := self._queues_with_work()) is not None:
                if len(ran) == self.max_jobs:
                    raise NotIdleError(
                        f"ran {self.max_jobs} jobs and there is still work in {list(queues)}; "
                        "a job that enqueues itself? Raise max_jobs if this is expected"
                    )
                fetched = server.storage.fetch_next(
                    queues, server.id, self._worker.worker_id, server.clock.now()
                )
                if fetched is None:  # another server took it meanwhile
                    continue
                ran.append(self._run(fetched))
                error = ran[-1].error
                if error is not None and self.raise_errors:
                    raise error
        finally:
            background.write_statistics(server)
            server.storage.remove_server(server.id)
        return EagerRun(tuple(ran))

    def _queues_with_work(self) -> tuple[str, ...] | None:
        """Promote what is due, as the schedulers do; then the queues to claim the next job
        from: the queue of the oldest Enqueued job, or `queues` in priority order; None if
        there is nothing to run now."""
        server = self._server
        background.enqueue_due_scheduled(server)
        background.fire_due_recurring(server)
        background.finish_batches(server)
        if self._queues is None:
            oldest = server.storage.list_jobs("Enqueued", limit=1, newest_first=False)
            return (oldest[0].queue,) if oldest else None
        lengths = server.storage.queue_lengths()
        return self._queues if any(lengths.get(queue) for queue in self._queues) else None

    def _run(self, fetched: FetchedJob) -> RanJob:
        self._worker.last = None
        self._worker.perform(fetched)
        error = self._worker.last[1] if self._worker.last is not None else None
        if error is not None:
            error.add_note(f"raised by stoker job {fetched.id} ({fetched.function})")
        found = self._server.storage.job_states([fetched.id]).get(fetched.id)
        return RanJob(fetched.id, fetched.function, found[0] if found else "gone", error)

    def close(self) -> None:
        """Stop the event loop thread that async jobs ran on (if one was started)."""
        self._server.async_loop.stop()

    def __enter__(self) -> EagerRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_until_idle(
    app: HasRuntime,
    *,
    queues: Sequence[str] | None = None,
    raise_errors: bool = True,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> EagerRun:
    """Run `app`'s jobs in this thread until none is due now (see EagerRunner)."""
    with EagerRunner(app, queues=queues, raise_errors=raise_errors, max_jobs=max_jobs) as runner:
        return runner.run_until_idle()
