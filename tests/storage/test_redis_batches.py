"""Redis-specific behaviour of batches: resent scripts, the Lua outcome rule, the moves made
by the storage's own scripts (promotion, orphan requeue), expiry and plain jobs' keys."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis

from stoker.core.batches import ONLY_SUCCEEDED, batch_outcome
from stoker.core.records import StateChange
from stoker.core.states import Deleted, Failed, State, Succeeded
from stoker.storage import open_storage
from stoker.storage.redis import RedisStorage
from stoker.testing.contract_batches import batch, continuation, member
from stoker.testing.contract_support import at, change, details, fetch_id, make_job, make_server


@pytest.fixture
def storage(redis_url: str) -> Iterator[RedisStorage]:
    opened = open_storage(redis_url)
    assert isinstance(opened, RedisStorage)
    yield opened
    opened.close()


def test_a_resent_create_batch_answers_with_the_first_ids(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sent again with the same token (its reply was lost): no "used" error, nothing twice.
    monkeypatch.setattr(storage, "_token", lambda: "batch-token")
    ids = storage.create_batch(batch(), [member(), member(), continuation()])
    assert storage.create_batch(batch(), [member(), member(), continuation()]) == ids
    found = storage.get_batch("b-1")
    assert found is not None
    assert (found.total, found.counts["Enqueued"], found.continuations) == (2, 2, (ids[2],))
    assert sum(storage.count_by_state().values()) == 3
    monkeypatch.setattr(storage, "_token", lambda: "next-token")
    with pytest.raises(ValueError, match="b-1"):
        storage.create_batch(batch(), [member()])


def test_a_resent_continue_batch_answers_with_the_first_id(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.create_batch(batch(), [member()])
    monkeypatch.setattr(storage, "_token", lambda: "continue-token")
    first = storage.continue_batch(continuation())
    assert storage.continue_batch(continuation()) == first
    found = storage.get_batch("b-1")
    assert found is not None
    assert found.continuations == (first,)


OUTCOMES: list[State] = [Succeeded(), Failed(exception_type="E", message="m"), Deleted()]


@pytest.mark.parametrize("ends", list(itertools.product(range(3), repeat=3)))
def test_the_scripts_outcome_is_batch_outcome(
    storage: RedisStorage, ends: tuple[int, int, int]
) -> None:
    ids = storage.create_batch(batch(), [member(), member(), member()])
    for job_id, end in zip(ids, ends, strict=True):
        assert change(storage, job_id, OUTCOMES[end], at(1))
    assert storage.finish_batches(at(2), 10) == ["b-1"]
    found = storage.get_batch("b-1")
    assert found is not None
    assert found.outcome == batch_outcome(found.counts, found.total)


def test_promotion_and_orphan_requeue_move_the_counts(storage: RedisStorage) -> None:
    scheduled = replace(make_job(state="Scheduled", run_at=at(5)), batch_id="b-1")
    ids = storage.create_batch(batch(), [scheduled, member()])
    assert storage.enqueue_due_scheduled(at(5), 10) == 1
    storage.announce_server(make_server("gone"))
    claimed = storage.fetch_next(["default"], "gone", "w1", at(6))
    assert claimed is not None
    assert storage.remove_dead_servers(at(100)) == ["gone"]
    assert storage.requeue_orphaned_jobs(at(101), 10) == [claimed.id]
    found = storage.get_batch("b-1")
    assert found is not None
    assert {name: n for name, n in found.counts.items() if n} == {"Enqueued": 2}
    assert [job.id for job in storage.batch_jobs("b-1")] == ids


def test_a_deleted_continuation_expires_and_an_expired_member_leaves_the_pages(
    storage: RedisStorage,
) -> None:
    picky = replace(continuation(on_states=ONLY_SUCCEEDED), deleted_expire_at=at(50))
    ids = storage.create_batch(batch(), [member(), member(), picky])
    expiring = StateChange(ids[0], Deleted().to_record(at(1)), expire_at=at(20))
    assert storage.change_state(expiring)
    assert change(storage, ids[1], Succeeded(), at(1))
    assert storage.finish_batches(at(2), 10) == ["b-1"]
    assert details(storage, ids[2]).job.expire_at == at(50)
    assert storage.delete_expired(at(30), 10) == 1
    assert [job.id for job in storage.batch_jobs("b-1")] == [ids[1]]
    found = storage.get_batch("b-1")
    assert found is not None
    assert (found.counts["Deleted"], found.counts["Succeeded"]) == (1, 1)  # not a move


def test_plain_jobs_write_no_batch_keys(storage: RedisStorage, redis_url: str) -> None:
    storage.create_jobs([make_job(), make_job()])
    job_id = fetch_id(storage, ["default"])
    assert job_id is not None
    assert change(storage, job_id, Succeeded(), at(1))
    client = redis.Redis.from_url(redis_url.split("?")[0], decode_responses=True)
    try:
        assert client.keys(f"{storage._p}:batch*") == []
        assert client.hget(f"{storage._p}:job:{job_id}", "b") is None
    finally:
        client.close()
