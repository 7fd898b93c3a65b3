"""The server: worker threads plus background duties, started and stopped as one unit."""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from types import FrameType, TracebackType

from stoker.core import reasons
from stoker.core.errors import JobCancelledError
from stoker.core.log_fields import log_fields
from stoker.core.runtime import Runtime
from stoker.core.states import Enqueued
from stoker.server import background
from stoker.server.context import ServerContext
from stoker.server.options import ServerOptions
from stoker.server.runner import RunningJob, job_log_fields
from stoker.server.watchdog import Watchdog
from stoker.server.worker import Worker

log = logging.getLogger("stoker.server")


class Server:
    """Runs jobs from `options.queues` with `options.workers` threads (see ServerOptions)."""

    def __init__(self, runtime: Runtime, options: ServerOptions | None = None) -> None:
        self.context = ServerContext(runtime, options or ServerOptions())
        self.options = self.context.options
        self.id = self.context.id
        self.stopping = self.context.stopping
        self.killed = self.context.killed
        self.stopped = self.context.stopped
        self._workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._started = False
        self._shutdown_lock = threading.Lock()
        # A signal can arrive while start() is still creating threads; stop() then waits for
        # start() to finish instead of joining threads that were never started.
        self._starting = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Server:
        with self._starting:
            if self._started:
                raise RuntimeError("this server was already started; create a new one")
            self._started = True
            self._start_threads()
        return self

    def _start_threads(self) -> None:
        context = self.context
        self.announce()
        options = self.options
        duties = [
            ("heartbeat", options.heartbeat_interval, background.heartbeat),
            ("statistics", options.statistics_interval, background.write_statistics),
        ]
        if options.schedulers:
            duties += [
                ("delayed-scheduler", options.scheduler_interval, background.enqueue_due_scheduled),
                ("recurring-scheduler", options.scheduler_interval, background.fire_due_recurring),
                ("slot-keeper", options.scheduler_interval, background.promote_waiting),
                ("batch-keeper", options.scheduler_interval, background.finish_batches),
                ("watchdog", max(1.0, min(options.server_timeout / 5, 60.0)), Watchdog()),
                ("expiration", options.expiration_interval, background.expire),
            ]
        self._threads = [
            background.Periodic(context, name, interval, functools.partial(duty, context))
            for name, interval, duty in duties
        ]
        self._threads.append(background.Supervisor(context))
        self._workers = [Worker(context, number) for number in range(1, options.workers + 1)]
        for thread in [*self._threads, *self._workers]:
            thread.start()
        log.info(
            "server %s started: %d workers (and up to %d async jobs) on queues %s",
            self.id,
            options.workers,
            options.concurrency,
            ", ".join(options.queues),
            extra=log_fields(self.id),
        )

    def announce(self) -> None:
        """Register this server in the storage (start() does it)."""
        self.context.announce()

    def stop(self, timeout: float | None = None) -> None:
        """Graceful stop: take no new jobs, let running ones finish within `timeout` (default
        `shutdown_timeout`), return the rest to their queues, and unregister."""
        with self._starting:  # a start() in progress finishes first
            pass
        if not self._started or self.killed.is_set():
            return
        self.stopping.set()
        deadline = time.monotonic() + (
            self.options.shutdown_timeout if timeout is None else timeout
        )
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        # Async jobs run on without a worker thread: they get the same deadline.
        self.context.async_jobs.wait_idle(max(0.0, deadline - time.monotonic()))
        self._shut_down()

    def kill(self) -> None:
        """Stop at once: running jobs are returned to their queues without waiting for them."""
        self.stopping.set()
        with self._starting:  # a start() in progress finishes first
            pass
        self._shut_down()

    def _shut_down(self) -> None:
        with self._shutdown_lock:  # stop() and kill() may race (second signal during a stop)
            if self.killed.is_set():
                return
            self.killed.set()
        returned = self._return_running_jobs()
        if returned:
            log.warning(
                "server %s stopping: returned %d running job(s) to their queues",
                self.id,
                returned,
                extra=log_fields(self.id),
            )
        try:
            self.context.storage.remove_server(self.id)
        except Exception as exc:  # its watchdog peers will requeue whatever is left
            log.error("could not unregister server %s: %s", self.id, exc, extra=log_fields(self.id))
        try:
            background.write_statistics(self.context)
        except Exception as exc:
            log.error(
                "server %s: could not write its last statistics: %s",
                self.id,
                exc,
                extra=log_fields(self.id),
            )
        self.context.async_jobs.close()
        self.context.async_loop.stop()
        log.info("server %s stopped", self.id, extra=log_fields(self.id))
        self.stopped.set()

    def _return_running_jobs(self) -> int:
        """Give jobs still running back to their queues (fenced by state id: if the job finished
        in the meantime, nothing changes). Their functions may still be running in daemon
        threads; they see `cancelled` and their late outcome is ignored (at-least-once).
        Async jobs' tasks are cancelled."""
        returned = 0
        for running in self.running_jobs():
            running.context.cancel()
            try:
                moved = self.context.state_machine.change(
                    running.context.id,
                    Enqueued(queue=running.context.queue, reason=reasons.server_shut_down(self.id)),
                    expected_states=("Processing",),
                    expected_state_id=running.state_id,
                )
            except Exception as exc:
                log.error(
                    "could not return job %s to its queue: %s",
                    running.context.id,
                    exc,
                    extra=job_log_fields(self.id, running),
                )
                moved = False
            # An async job's task is cancelled for real, once the job was given back: its
            # finisher then sees the kill and stores nothing (see handoff.finish_async).
            if running.future is not None:
                running.interrupt(JobCancelledError)
            returned += int(moved)
        return returned

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def running_jobs(self) -> list[RunningJob]:
        """The jobs this server's workers are running now."""
        return self.context.running_jobs()


def run_forever(runtime: Runtime, options: ServerOptions) -> None:
    """Run a server until SIGTERM/SIGINT. The first signal stops gracefully (running jobs get
    `shutdown_timeout` to finish); a second one stops at once, returning running jobs."""
    server = Server(runtime, options)
    signals_seen = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.warning(
                "received %s: stopping gracefully (again to stop at once)",
                signal.Signals(signum).name,
                extra=log_fields(server.id),
            )
            threading.Thread(target=server.stop, name="stoker-stop", daemon=True).start()
        else:
            log.warning(
                "received %s again: stopping now",
                signal.Signals(signum).name,
                extra=log_fields(server.id),
            )
            threading.Thread(target=server.kill, name="stoker-kill", daemon=True).start()

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main_thread:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        server.start()
        while not server.stopped.wait(0.5):
            pass
    finally:
        if not server.killed.is_set():
            server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
