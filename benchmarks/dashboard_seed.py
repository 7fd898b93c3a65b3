"""Fill a storage with a realistic mix of jobs for the dashboard benchmark.

How it stays fast (1,000,000 jobs in minutes instead of hours): jobs are written in batches of
BATCH, one transaction (one Lua script on Redis) per batch, through the storages' own bulk
write, `Storage.create_jobs`:
- jobs that stay Enqueued are created by `app.enqueue_many`, the public bulk API;
- most jobs are created directly in the state they end in (Succeeded, Failed, ...) by
  `storage.create_jobs` with that state as the first one. A state change per job (one
  transaction each) would run at 1-2 thousand jobs a second, 10-20 minutes per million;
- one job in SAMPLE goes the long way: `app.enqueue_many`, then `storage.change_state` from
  Enqueued to its final state (a few threads at once), so there are also jobs with a history,
  retries and expiry times as a server writes them.
States, times and data are what a server writes; times spread over the last 30 days.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import stoker
from benchmarks import dashboard_jobs as jobs
from stoker.core.protocols import Storage
from stoker.core.records import NewJob, RecurringRecord, ServerRecord, StateChange, StateRecord
from stoker.testing.clock import FakeClock

BATCH = 5_000
SAMPLE = 47  # one job in SAMPLE is created Enqueued and moved by change_state
THREADS = 6
SPAN = timedelta(days=30)  # the jobs' times spread over the last 30 days
QUEUES = ("default", "default", "default", "mail", "reports")
# (function, share in percent, arguments of job number i)
FUNCTIONS: tuple[tuple[Callable[..., None], int, Callable[[int], tuple[Any, ...]]], ...] = (
    (jobs.send_welcome_mail, 30, lambda i: (f"user{i}@example.com", "Welcome aboard")),
    (jobs.resize_image, 25, lambda i: (f"/uploads/{i % 977}/photo-{i}.jpg", 640)),
    (jobs.charge_card, 20, lambda i: (f"cus_{i:08d}", 100 + i % 9_000)),
    (jobs.build_report, 22, lambda i: (f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", "emea")),
    (jobs.sync_crm_account, 3, lambda i: (i, i % 2 == 0)),
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app/tasks.py", line 42, in charge_card\n'
    "    gateway.charge(customer, amount_cents)\n"
    "ConnectionError: payment gateway timed out after 30 s\n"
)


@dataclass
class Seeded:
    """What the benchmark searches for and opens, found while seeding."""

    jobs: int
    seconds: float = 0.0
    failed_id: str = ""
    succeeded_id: str = ""
    argument_text: str = ""
    by_state: dict[str, int] = field(default_factory=dict)


def _target(i: int) -> str:
    """The state job number i ends in: 86% Succeeded, 4% Failed, 2% Deleted, 3% Scheduled
    (a third of them retries), the rest stays Enqueued (Awaiting and Processing come extra)."""
    bucket = i % 100
    if bucket < 86:
        return "Succeeded"
    if bucket < 90:
        return "Failed"
    if bucket < 92:
        return "Deleted"
    if bucket < 95:
        return "Scheduled"
    return "Enqueued"


@dataclass(frozen=True)
class Final:
    """The state a job ends in, with what goes along with it."""

    record: StateRecord
    params: dict[str, Any] = field(default_factory=dict)
    run_at: datetime | None = None
    expire_at: datetime | None = None


def _final(i: int, at: datetime, now: datetime) -> Final | None:
    """Job number i's last state (None: it stays Enqueued)."""
    state = _target(i)
    expire_at = now + timedelta(days=60)
    if state == "Succeeded":
        data = {"duration_ms": 3 + i % 400, "latency_ms": 1 + i % 50, "result": None}
        return Final(StateRecord("Succeeded", at, None, data), expire_at=expire_at)
    if state == "Failed":
        data = {
            "exception_type": "ConnectionError",
            "message": f"payment gateway timed out after 30 s (attempt {i % 11})",
            "traceback": TRACEBACK,
        }
        return Final(StateRecord("Failed", at, "Retries exhausted", data))
    if state == "Deleted":
        return Final(
            StateRecord("Deleted", at, "Deleted from the dashboard", {}), expire_at=expire_at
        )
    if state == "Scheduled":
        return _scheduled(i, at, now)
    return None


def _scheduled(i: int, at: datetime, now: datetime) -> Final:
    run_at = now + timedelta(minutes=1 + i % 5_000)
    data: dict[str, Any] = {"enqueue_at": run_at.isoformat(), "queue": "default"}
    params: dict[str, Any] = {}
    if i % 3 == 0:  # a retry: what RetryScheduled writes, and the retry_count parameter
        attempt = 1 + i % 9
        data.update(
            retry_attempt=attempt,
            retries=10,
            exception_type="TimeoutError",
            message="mail server did not answer",
            traceback=TRACEBACK,
        )
        params["retry_count"] = attempt
    record = StateRecord("Scheduled", at, "Retry" if params else "Scheduled", data)
    return Final(record, params, run_at=run_at)


def _change(job_id: str, final: Final) -> StateChange:
    return StateChange(
        job_id,
        final.record,
        ("Enqueued",),
        run_at=final.run_at,
        expire_at=final.expire_at,
        params=final.params,
    )


def _new_job(function: str, args: tuple[Any, ...], queue: str, final: Final) -> NewJob:
    return NewJob(
        function=function,
        args=json.dumps(list(args)),
        kwargs="{}",
        queue=queue,
        state=final.record,
        created_at=final.record.created_at - timedelta(seconds=2),
        params=final.params,
        run_at=final.run_at,
    )


def _batches(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, BATCH):
        yield start, min(BATCH, total - start)


def _function_of(batch: int) -> tuple[Callable[..., None], Callable[[int], tuple[Any, ...]]]:
    # Batches take turns by share: out of every 100 batches, 30 are mail jobs, 3 CRM syncs...
    slot = (batch * 37) % 100
    for function, share, arguments in FUNCTIONS:
        if slot < share:
            return function, arguments
        slot -= share
    return FUNCTIONS[0][0], FUNCTIONS[0][2]


def seed(url: str, total: int, log: Callable[[str], None]) -> Seeded:
    """Store `total` jobs (and a few servers and recurring jobs) at `url`."""
    begun = time.perf_counter()
    now = datetime.now(UTC)
    clock = FakeClock(now - SPAN)
    seeded = Seeded(jobs=total)
    app = stoker.App(url, clock=clock)
    awaiting = total // 100
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for number, (start, size) in enumerate(_batches(total - awaiting)):
                _batch(app, clock, pool, number, start, size, now, seeded)
                if number % 20 == 0:
                    log(f"  {start + size:,} jobs ({time.perf_counter() - begun:.0f} s)")
            clock.set(now)
            _awaiting(app, awaiting, pool)
        _servers_and_recurring(app.storage, now)
        seeded.by_state = app.storage.count_by_state()
    finally:
        app.close()
    seeded.seconds = time.perf_counter() - begun
    return seeded


def _batch(
    app: stoker.App,
    clock: FakeClock,
    pool: ThreadPoolExecutor,
    number: int,
    start: int,
    size: int,
    now: datetime,
    seeded: Seeded,
) -> None:
    """Jobs start .. start+size-1: one function, one queue, times one `step` apart."""
    step = SPAN / (seeded.jobs or 1)
    clock.set(now - SPAN + step * start)
    function, arguments = _function_of(number)
    queue = QUEUES[number % len(QUEUES)]
    path = f"{function.__module__}:{function.__qualname__}"
    direct: list[NewJob] = []
    long_way: list[tuple[int, Final | None]] = []
    for i in range(start, start + size):
        final = _final(i, clock.now() + step * (i - start), now)
        if final is None or i % SAMPLE == 0:
            long_way.append((i, final))
        else:
            direct.append(_new_job(path, arguments(i), queue, final))
    if direct:
        app.storage.create_jobs(direct)
    client = app.with_options(queue=queue)
    ids = client.enqueue_many(function, [arguments(i) for i, _ in long_way])
    changes = [
        _change(job_id, final) for job_id, (_, final) in zip(ids, long_way, strict=True) if final
    ]
    _apply(app.storage, changes, pool)
    _remember(seeded, changes, arguments, start, size)


def _apply(storage: Storage, changes: Sequence[StateChange], pool: Any) -> None:
    chunk = max(1, len(changes) // THREADS + 1)

    def run(part: Sequence[StateChange]) -> None:
        for change in part:
            storage.change_state(change)

    for future in [pool.submit(run, changes[i : i + chunk]) for i in range(0, len(changes), chunk)]:
        future.result()


def _remember(
    seeded: Seeded,
    changes: Sequence[StateChange],
    arguments: Callable[[int], tuple[Any, ...]],
    start: int,
    size: int,
) -> None:
    """A Failed and a Succeeded job with a full history (for the details pages), and an
    argument text that exists."""
    for change in changes:
        if change.state.name == "Failed":
            seeded.failed_id = change.job_id
        elif change.state.name == "Succeeded":
            seeded.succeeded_id = change.job_id
    if arguments is FUNCTIONS[0][2]:
        seeded.argument_text = f"user{start + size // 2}@example"


def _awaiting(app: stoker.App, count: int, pool: Any) -> None:
    """Continuations of Scheduled jobs (they wait in Awaiting), one transaction each."""
    parents = [
        record.id for record in app.storage.list_jobs("Scheduled", limit=max(1, count // 50))
    ]
    if not parents or not count:
        return

    def run(first: int, last: int) -> None:
        for i in range(first, last):
            app.continue_with(parents[i % len(parents)], jobs.build_report, f"after-{i}", "emea")

    chunk = count // THREADS + 1
    futures = [pool.submit(run, i, min(count, i + chunk)) for i in range(0, count, chunk)]
    for future in futures:
        future.result()


def _servers_and_recurring(storage: Storage, now: datetime) -> None:
    """Two live servers with 20 jobs in flight each, and five recurring jobs."""
    for number in range(2):
        server_id = f"bench-host:{1000 + number}:{number}"
        storage.announce_server(
            ServerRecord(server_id, "bench-host", 1000 + number, 10, ("default",), now, now)
        )
        for worker in range(20):
            storage.fetch_next(["default", "mail"], server_id, f"worker-{worker}", now)
    for number in range(5):
        storage.save_recurring(
            RecurringRecord(
                id=f"nightly-report-{number}",
                cron=f"{number} 3 * * *",
                timezone="UTC",
                function="benchmarks.dashboard_jobs:build_report",
                args='["today", "emea"]',
                kwargs="{}",
                queue="reports",
                params={},
                next_run=now + timedelta(hours=number + 1),
                created_at=now,
            )
        )
