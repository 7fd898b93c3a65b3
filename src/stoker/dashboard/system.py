"""Retries, recurring jobs and servers as the dashboard shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stoker.core.protocols import Monitor
from stoker.core.records import RecurringRecord, ServerRecord, StateRecord
from stoker.dashboard import formatting as fmt
from stoker.dashboard.cron_words import describe
from stoker.dashboard.views import JobRow, job_row

SCAN_BATCH = 500


@dataclass(frozen=True)
class RetryRow:
    row: JobRow
    attempt: int
    retries: int | None
    last_failure: dict[str, str] | None


@dataclass(frozen=True)
class RetryScan:
    """Jobs waiting for another attempt, found by paging through Scheduled jobs."""

    rows: tuple[RetryRow, ...]
    matched: int  # retries found among the scanned jobs
    scanned: int
    scheduled_total: int

    @property
    def complete(self) -> bool:
        return self.scanned >= self.scheduled_total


def _last_failure(state: StateRecord) -> dict[str, str] | None:
    # A retry's Scheduled state keeps the failure that caused it (RetryScheduled data).
    data = state.data
    if "exception_type" not in data:
        return None
    return {
        "type": str(data.get("exception_type", "")),
        "message": str(data.get("message", "")),
        "traceback": str(data.get("traceback", "")),
    }


def scan_retries(monitor: Monitor, offset: int, limit: int, scan_limit: int) -> RetryScan:
    """Retries (Scheduled jobs whose `retry_count` param is > 0), soonest first.

    LIMITATION: the Monitor has no index of retries, so this pages through Scheduled jobs in
    batches of SCAN_BATCH, looking at `scan_limit` of them at most. With more Scheduled jobs
    than that (e.g. many delayed jobs), retries beyond the limit are not found and the page
    says so. A retries index in the storages would lift this.
    """
    total = monitor.count_jobs("Scheduled")
    found: list[RetryRow] = []
    matched = scanned = 0
    while scanned < min(total, scan_limit):
        batch = monitor.list_jobs(
            "Scheduled",
            offset=scanned,
            limit=min(SCAN_BATCH, scan_limit - scanned),
            newest_first=False,
            by_due=True,  # the next attempt soonest first
        )
        if not batch:
            break
        scanned += len(batch)
        for record in batch:
            attempt = record.params.get("retry_count", 0)
            if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt <= 0:
                continue
            # Only the page's rows are formatted: the scan looks at thousands of jobs.
            if offset <= matched < offset + limit:
                retries = record.params.get("retries")
                found.append(
                    RetryRow(
                        row=job_row(record),
                        attempt=attempt,
                        retries=retries if isinstance(retries, int) else None,
                        last_failure=_last_failure(record.state),
                    )
                )
            matched += 1
    return RetryScan(tuple(found), matched, scanned, total)


@dataclass(frozen=True)
class RecurringRow:
    record: RecurringRecord
    words: str
    summary: str
    last_job_state: str | None


def recurring_rows(monitor: Monitor) -> list[RecurringRow]:
    records = monitor.list_recurring()
    last_ids = [r.last_job_id for r in records if r.last_job_id]
    states = monitor.job_states(last_ids) if last_ids else {}
    return [
        RecurringRow(
            record=r,
            words=describe(r.cron),
            summary=fmt.call_summary(r.function, r.args, r.kwargs),
            last_job_state=states[r.last_job_id][0] if r.last_job_id in states else None,
        )
        for r in records
    ]


@dataclass(frozen=True)
class ServerRow:
    record: ServerRecord
    in_flight: int
    dead: bool
    name: str


def server_rows(monitor: Monitor, now: datetime, timeout: timedelta) -> list[ServerRow]:
    """Servers with their jobs in flight; a server silent for longer than `timeout` is dead
    (its jobs are requeued by another server's watchdog)."""
    counts = monitor.processing_counts()
    rows = [
        ServerRow(
            record=s,
            in_flight=counts.get(s.id, 0),
            dead=now - s.heartbeat_at > timeout,
            name=s.id.split(":", 1)[0],
        )
        for s in monitor.list_servers()
    ]
    rows.sort(key=lambda row: (row.dead, row.record.id))
    return rows


def queue_rows(monitor: Monitor, now: datetime, timeout: timedelta) -> list[tuple[str, int]]:
    """Every queue with its Enqueued jobs, by name: the queues holding jobs and, with 0, the
    empty queues a live server listens on (so that a queue nobody fills still shows)."""
    lengths = dict(monitor.queue_lengths())
    for server in monitor.list_servers():
        if now - server.heartbeat_at <= timeout:
            for queue in server.queues:
                lengths.setdefault(queue, 0)
    return sorted(lengths.items())
