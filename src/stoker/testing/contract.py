"""The storage contract suite: one pytest mixin every storage's tests inherit unchanged."""

from __future__ import annotations

from stoker.testing.contract_batches import BatchContract
from stoker.testing.contract_closed import ClosedStorageContract
from stoker.testing.contract_continuations import ContinuationsContract, ScheduledContract
from stoker.testing.contract_fetch import FetchContract, WaitForJobsContract
from stoker.testing.contract_finish import FinishAndFetchContract
from stoker.testing.contract_history import (
    ClaimHistoryContract,
    ContinuationHistoryContract,
    OrphanHistoryContract,
    PromotionHistoryContract,
    RecurringHistoryContract,
)
from stoker.testing.contract_idempotency import IdempotencyContract, UniqueKeyContract
from stoker.testing.contract_jobs import CreateJobsContract, JobExtrasContract
from stoker.testing.contract_limits import ConcurrencyContract, RateLimitContract
from stoker.testing.contract_monitor import (
    DueOrderContract,
    ListJobsContract,
    QueueLengthsContract,
)
from stoker.testing.contract_recurring import FireRecurringContract, RecurringContract
from stoker.testing.contract_servers import (
    ClaimedJobsContract,
    LocksContract,
    OrphanedJobsContract,
    ServersContract,
)
from stoker.testing.contract_state import ChangeStateContract, CountersAndExpiryContract
from stoker.testing.contract_support import T0, at, make_job, make_recurring, make_server

__all__ = ["T0", "StorageContract", "at", "make_job", "make_recurring", "make_server"]


class StorageContract(
    CreateJobsContract,
    JobExtrasContract,
    IdempotencyContract,
    UniqueKeyContract,
    ConcurrencyContract,
    RateLimitContract,
    BatchContract,
    FetchContract,
    FinishAndFetchContract,
    WaitForJobsContract,
    ChangeStateContract,
    CountersAndExpiryContract,
    ContinuationsContract,
    ScheduledContract,
    RecurringContract,
    FireRecurringContract,
    ServersContract,
    OrphanedJobsContract,
    ClaimedJobsContract,
    LocksContract,
    QueueLengthsContract,
    ListJobsContract,
    DueOrderContract,
    ClaimHistoryContract,
    PromotionHistoryContract,
    OrphanHistoryContract,
    ContinuationHistoryContract,
    RecurringHistoryContract,
    ClosedStorageContract,
):
    """Every semantic of `stoker.core.protocols`, as tests any storage must pass unchanged.

    Use it by subclassing in a test module and providing a `storage` fixture that yields a fresh,
    empty storage for each test (and closes it afterwards)::

        class TestSQLiteContract(StorageContract):
            @pytest.fixture
            def storage(self, sqlite_url: str) -> Iterator[Storage]:
                opened = open_storage(sqlite_url)
                yield opened
                opened.close()

    Conventions the suite relies on:

    - Time is never the wall clock: every instant is `at(seconds)` after the fixed `T0`
      (2036-03-01 12:00 UTC, in the future so that a storage wrongly using the wall clock for
      expiry or locks fails), and each storage must judge time only by the `now` it is given.
    - Datetimes a storage returns must be aware and in UTC, and equal to what was stored at
      MILLISECOND precision: storages may drop microseconds, so every comparison truncates both
      sides to the millisecond (`stoker.testing.contract_support.normalized`).
    - Only domain-level behaviour is checked (what the protocols' docstrings promise), never keys,
      tables or other implementation details. Orders the docstrings leave open (e.g. which due
      recurring job comes first) are compared as sets.
    - `wait_for_jobs` and the concurrency tests use real threads and real time with loose bounds;
      everything else is deterministic.

    Build jobs with `self.make_job(queue=..., state="Enqueued" | "Scheduled" | "Awaiting", ...)`;
    states are stored exactly as `stoker.core.states` builds them with `to_record(created_at)`.
    """
