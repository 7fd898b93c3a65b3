"""The server: worker threads plus background duties, started and stopped as one unit."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from stoker.server import background
from stoker.server.isolation import CrashIsolation
from stoker.server.options import ServerOptions
from stoker.server.outage import OutageReporter
from stoker.server.runner import AsyncLoop, RunningJob, settle
from stoker.server.watchdog import Watchdog
from stoker.server.worker import Worker
from stoker.states import Enqueued
from stoker.storage.base import ServerRecord

if TYPE_CHECKING:
    from stoker.app import App

log = logging.getLogger("stoker.server")


class Server:
    """Runs jobs from `options.queues` with `options.workers` threads (see ServerOptions)."""

    def __init__(self, app: App, options: ServerOptions | None = None) -> None:
        self.app = app
        self.options = options or ServerOptions()
        self.storage = app.storage
        self.clock = app.clock
        self.id = self.options.server_id()
        self.stopping = threading.Event()  # no new jobs; background loops end
        self.killed = threading.Event()  # stop retrying anything: we are going away now
        self.stopped = threading.Event()  # fully shut down and unregistered
        self.outage = OutageReporter()
        self.async_loop = AsyncLoop()
        self.isolation = CrashIsolation()
        self._running: dict[int, RunningJob] = {}
        self._running_lock = threading.Lock()
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
        self.announce()
        options = self.options
        duties = [("heartbeat", options.heartbeat_interval, background.heartbeat)]
        if options.schedulers:
            duties += [
                ("delayed-scheduler", options.scheduler_interval, background.enqueue_due_scheduled),
                ("recurring-scheduler", options.scheduler_interval, background.fire_due_recurring),
                ("watchdog", max(1.0, min(options.server_timeout / 5, 60.0)), Watchdog()),
                ("expiration", options.expiration_interval, background.expire),
            ]
        self._threads = [
            background.Periodic(self, name, interval, functools.partial(duty, self))
            for name, interval, duty in duties
        ]
        self._threads.append(background.Supervisor(self))
        self._workers = [Worker(self, number) for number in range(1, options.workers + 1)]
        for thread in [*self._threads, *self._workers]:
            thread.start()
        log.info(
            "server %s started: %d workers on queues %s",
            self.id,
            options.workers,
            ", ".join(options.queues),
        )

    def announce(self) -> None:
        now = self.clock.now()
        self.storage.announce_server(
            ServerRecord(
                id=self.id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                workers=self.options.workers,
                queues=tuple(self.options.queues),
                started_at=now,
                heartbeat_at=now,
            )
        )

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
                "server %s stopping: returned %d running job(s) to their queues", self.id, returned
            )
        try:
            self.storage.remove_server(self.id)
        except Exception as exc:  # its watchdog peers will requeue whatever is left
            log.error("could not unregister server %s: %s", self.id, exc)
        self.async_loop.stop()
        log.info("server %s stopped", self.id)
        self.stopped.set()

    def _return_running_jobs(self) -> int:
        """Give jobs still running back to their queues (fenced by state id: if the job finished
        in the meantime, nothing changes). Their functions may still be running in daemon
        threads; they see `cancelled` and their late outcome is ignored (at-least-once)."""
        returned = 0
        for running in self.running_jobs():
            running.context.cancel()
            try:
                moved = self.app.state_machine.change(
                    running.context.id,
                    Enqueued(queue=running.context.queue, reason=f"Server {self.id} shut down"),
                    expected_states=("Processing",),
                    expected_state_id=running.state_id,
                )
            except Exception as exc:
                log.error("could not return job %s to its queue: %s", running.context.id, exc)
                continue
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

    # --- running jobs ---------------------------------------------------------------------------
    def track(self, running: RunningJob) -> None:
        with self._running_lock:
            self._running[running.thread_id] = running

    def untrack(self, running: RunningJob) -> None:
        settle(running)  # no timeout interrupt may reach the worker after this point
        with self._running_lock:
            self._running.pop(running.thread_id, None)

    def running_jobs(self) -> list[RunningJob]:
        with self._running_lock:
            return list(self._running.values())


def run_forever(app: App, options: ServerOptions) -> None:
    """Run a server until SIGTERM/SIGINT. The first signal stops gracefully (running jobs get
    `shutdown_timeout` to finish); a second one stops at once, returning running jobs."""
    server = Server(app, options)
    signals_seen = 0

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.warning(
                "received %s: stopping gracefully (again to stop at once)",
                signal.Signals(signum).name,
            )
            threading.Thread(target=server.stop, name="stoker-stop", daemon=True).start()
        else:
            log.warning("received %s again: stopping now", signal.Signals(signum).name)
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
