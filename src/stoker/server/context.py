"""ServerContext: what a server's threads share: runtime, options, id, stop events, running jobs."""

from __future__ import annotations

import os
import socket
import threading

from stoker.core.clock import Clock
from stoker.core.counters import CounterBuffer
from stoker.core.filters.statistics import folding_counters
from stoker.core.protocols import Storage
from stoker.core.records import ServerRecord
from stoker.core.runtime import Runtime
from stoker.core.state_machine import StateMachine
from stoker.server.async_jobs import AsyncJobs
from stoker.server.isolation import CrashIsolation
from stoker.server.options import ServerOptions
from stoker.server.outage import OutageReporter
from stoker.server.runner import AsyncLoop, RunningJob, settle


class ServerContext:
    """One server's shared parts, handed to its workers and background duties.

    The Server owns the threads and their lifecycle; the threads only see this context, so none
    of them depends on the Server (or the App) that started it.
    """

    def __init__(self, runtime: Runtime, options: ServerOptions) -> None:
        self.runtime = runtime
        self.options = options
        self.id = options.server_id()
        self.stopping = threading.Event()  # no new jobs; background loops end
        self.killed = threading.Event()  # stop retrying anything: we are going away now
        self.stopped = threading.Event()  # fully shut down and unregistered
        self.outage = OutageReporter(self.id)
        self.async_loop = AsyncLoop()
        # The workers' statistics, written in bulk by the "statistics" duty (folding_counters).
        self.counters = CounterBuffer()
        self._state_machine = folding_counters(runtime.state_machine, self.counters)
        self.isolation = CrashIsolation()
        # Outcomes of async jobs are stored by as many threads as the workers that fetch them.
        self.async_jobs = AsyncJobs(
            options.concurrency, finishers=max(2, options.workers), server_id=self.id
        )
        # Keyed by the RunningJob's identity: one worker thread may have started many async jobs.
        self._running: dict[int, RunningJob] = {}
        self._running_lock = threading.Lock()

    # The runtime's parts, read through it: an App's job policy may change after its server
    # started (`app.require_marked_jobs = True`), and workers must see that at once.
    @property
    def storage(self) -> Storage:
        return self.runtime.storage

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    @property
    def state_machine(self) -> StateMachine:
        """The runtime's state machine, but with the statistics folded into `counters`."""
        return self._state_machine

    def announce(self) -> None:
        """Register this server (again, after a peer presumed it dead)."""
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

    # --- running jobs ---------------------------------------------------------------------------
    def track(self, running: RunningJob) -> None:
        with self._running_lock:
            self._running[id(running)] = running

    def untrack(self, running: RunningJob) -> None:
        settle(running)  # no timeout interrupt may reach the worker after this point
        with self._running_lock:
            self._running.pop(id(running), None)

    def running_jobs(self) -> list[RunningJob]:
        with self._running_lock:
            return list(self._running.values())
