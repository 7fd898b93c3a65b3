"""Batches in memory beyond the contract: every kind of move is counted, expiry is not one,
a failed create leaves no batch, and deleted continuations expire."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from stoker.core.batches import ONLY_SUCCEEDED, BatchRecord
from stoker.core.errors import JobNotFoundError
from stoker.core.states import Failed, Succeeded
from stoker.storage import open_storage
from stoker.storage.memory import MemoryStorage
from stoker.testing.contract_batches import batch, continuation, member
from stoker.testing.contract_support import at, change, details, fetch_id, make_job


@pytest.fixture
def storage() -> Iterator[MemoryStorage]:
    opened = open_storage("memory://")
    assert isinstance(opened, MemoryStorage)
    yield opened
    opened.close()


def counted(storage: MemoryStorage, batch_id: str = "b-1") -> dict[str, int]:
    found = storage.get_batch(batch_id)
    assert isinstance(found, BatchRecord)
    return {name: n for name, n in found.counts.items() if n}


def test_the_scheduler_and_the_watchdog_move_members_counted(storage: MemoryStorage) -> None:
    scheduled = replace(make_job(state="Scheduled", run_at=at(10)), batch_id="b-1")
    ids = storage.create_batch(batch(), [scheduled, scheduled])
    assert counted(storage) == {"Scheduled": 2}
    assert storage.enqueue_due_scheduled(at(10), 10) == 2
    assert counted(storage) == {"Enqueued": 2}
    assert fetch_id(storage, ["default"], at(11)) == ids[0]
    assert counted(storage) == {"Enqueued": 1, "Processing": 1}
    # No server was announced: the claim's server is gone, so the watchdog requeues it.
    assert storage.requeue_orphaned_jobs(at(12), 10) == [ids[0]]
    assert counted(storage) == {"Enqueued": 2}


def test_an_expired_member_stays_counted_but_leaves_the_pages(storage: MemoryStorage) -> None:
    ids = storage.create_batch(batch(), [member(), member()])
    assert change(storage, ids[0], Succeeded(), at(1), expire_at=at(5))
    assert storage.delete_expired(at(6), 10) == 1
    assert counted(storage) == {"Succeeded": 1, "Enqueued": 1}
    assert [job.id for job in storage.batch_jobs("b-1")] == ids[1:]
    assert change(storage, ids[1], Succeeded(), at(7))
    assert storage.finish_batches(at(8), 10) == ["b-1"]


def test_a_create_that_fails_leaves_no_batch(storage: MemoryStorage) -> None:
    orphan = replace(make_job(state="Awaiting", parent_id="999"), batch_id="b-1")
    with pytest.raises(JobNotFoundError):
        storage.create_batch(batch(), [member(), orphan])
    assert (storage.count_batches(), sum(storage.count_by_state().values())) == (0, 0)
    assert len(storage.create_batch(batch(), [member()])) == 1  # the id is still free


def test_deleted_continuations_expire_when_they_asked_to(storage: MemoryStorage) -> None:
    picky = replace(continuation(on_states=ONLY_SUCCEEDED), deleted_expire_at=at(100))
    ids = storage.create_batch(batch(), [member(), picky])
    boom = Failed(exception_type="RuntimeError", message="boom")
    assert change(storage, ids[0], boom, at(1))
    assert storage.finish_batches(at(2), 10) == ["b-1"]
    late = storage.continue_batch(replace(picky, deleted_expire_at=at(200)))
    expiries = [details(storage, job_id).job for job_id in (ids[1], late)]
    assert [(job.state.name, job.expire_at) for job in expiries] == [
        ("Deleted", at(100)),
        ("Deleted", at(200)),
    ]


def test_finish_batches_takes_the_oldest_done_batches_up_to_its_limit(
    storage: MemoryStorage,
) -> None:
    for number in (2, 0, 1):
        storage.create_batch(batch(f"b-{number}", when=number), [])
    storage.create_batch(batch("b-open", when=-1), [member("b-open")])
    assert storage.finish_batches(at(5), 2) == ["b-0", "b-1"]
    assert storage.finish_batches(at(5), 2) == ["b-2"]
    assert storage.finish_batches(at(5), 0) == []
