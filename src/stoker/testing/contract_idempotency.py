"""Contract: jobs created with an idempotency key or a unique key are created once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from stoker.core.protocols import Storage
from stoker.core.records import NewJob
from stoker.core.states import Deleted, Failed, Processing, Scheduled, Succeeded
from stoker.testing.contract_support import ContractSupport, at, change, make_job, state_of

BOOM = Failed(exception_type="RuntimeError", message="boom")


def keyed(key: str, created: float, expires: float, **options: object) -> NewJob:
    """A job made at `at(created)` whose key names it until `at(expires)`."""
    job = make_job(created_at=at(created), **options)  # type: ignore[arg-type]
    return replace(job, idempotency_key=key, idempotency_expire_at=at(expires))


def create_one(storage: Storage, job: NewJob) -> str:
    (job_id,) = storage.create_jobs([job])
    return job_id


def job_count(storage: Storage) -> int:
    return sum(storage.count_by_state().values())


def race(storage: Storage, job: Callable[[int, int], NewJob]) -> None:
    """Six threads create `job(worker, attempt)` 15 times each, all at once: one job results,
    and every call returns its id."""
    ids: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def create_many(worker: int) -> None:
        try:
            start.wait()
            for attempt in range(15):
                ids.append(create_one(storage, job(worker, attempt)))
        except BaseException as exc:  # reported by the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=create_many, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(ids) == 90
    assert len(set(ids)) == 1
    assert job_count(storage) == 1


class IdempotencyContract(ContractSupport):
    """`NewJob.idempotency_key`: the same key before its expiry returns the first job's id."""

    def test_a_second_create_with_the_same_key_returns_the_first_job(
        self, storage: Storage
    ) -> None:
        first = create_one(storage, keyed("order-7", 0, 100, args=[1]))
        again = create_one(storage, keyed("order-7", 10, 110, args=[2], queue="other"))
        assert again == first
        assert job_count(storage) == 1
        assert storage.queue_lengths() == {"default": 1}

    def test_other_keys_and_jobs_without_a_key_are_created(self, storage: Storage) -> None:
        first = create_one(storage, keyed("order-7", 0, 100))
        other = create_one(storage, keyed("order-8", 0, 100))
        plain = create_one(storage, make_job())
        assert len({first, other, plain}) == 3
        assert job_count(storage) == 3

    def test_the_key_names_its_job_whatever_the_jobs_state(self, storage: Storage) -> None:
        done = create_one(storage, keyed("done", 0, 100))
        gone = create_one(storage, keyed("gone", 0, 100))
        assert change(storage, done, Succeeded(), at(1))
        assert change(storage, gone, Deleted(), at(1))
        assert create_one(storage, keyed("done", 2, 102)) == done
        assert create_one(storage, keyed("gone", 2, 102)) == gone
        assert (state_of(storage, done), state_of(storage, gone)) == ("Succeeded", "Deleted")
        assert job_count(storage) == 2

    def test_once_the_key_expired_the_next_create_makes_a_new_job(self, storage: Storage) -> None:
        first = create_one(storage, keyed("nightly-report", 0, 100))
        assert create_one(storage, keyed("nightly-report", 99, 199)) == first
        storage.delete_expired(at(150), 100)  # removes the expired key, not the job
        second = create_one(storage, keyed("nightly-report", 150, 250))
        assert second != first
        assert create_one(storage, keyed("nightly-report", 200, 300)) == second
        assert state_of(storage, first) == "Enqueued"
        assert job_count(storage) == 2

    def test_a_keyed_continuation_and_a_keyed_delayed_job_are_created_once(
        self, storage: Storage
    ) -> None:
        parent = create_one(storage, make_job())
        child = create_one(storage, keyed("child", 0, 100, state="Awaiting", parent_id=parent))
        later = create_one(storage, keyed("later", 0, 100, state="Scheduled"))
        assert create_one(storage, keyed("child", 1, 101, state="Awaiting", parent_id=parent)) == (
            child
        )
        assert create_one(storage, keyed("later", 1, 101, state="Scheduled")) == later
        assert (state_of(storage, child), state_of(storage, later)) == ("Awaiting", "Scheduled")
        assert job_count(storage) == 3

    def test_a_keyed_job_is_created_alone(self, storage: Storage) -> None:
        with pytest.raises(ValueError, match="created alone"):
            storage.create_jobs([keyed("bulk", 0, 100), make_job()])
        with pytest.raises(ValueError, match="created alone"):
            storage.create_jobs([make_job(), replace(make_job(), unique_key="u")])
        assert job_count(storage) == 0

    def test_racing_creates_with_one_key_make_one_job(self, storage: Storage) -> None:
        race(storage, lambda worker, attempt: keyed("race", attempt, 1000, args=[worker, attempt]))


def unique(key: str, created: float = 0, **options: object) -> NewJob:
    """A job made at `at(created)` with unique key `key`."""
    return replace(make_job(created_at=at(created), **options), unique_key=key)  # type: ignore[arg-type]


class UniqueKeyContract(ContractSupport):
    """`NewJob.unique_key`: held by its job while it is unfinished; later creates get its id."""

    def test_an_unfinished_job_answers_for_its_unique_key(self, storage: Storage) -> None:
        holder = create_one(storage, unique("welcome:42"))
        assert create_one(storage, unique("welcome:42", 1, args=[2])) == holder  # Enqueued
        processing = Processing(server_id="s", worker_id="w")
        assert change(storage, holder, processing, at(2))
        assert create_one(storage, unique("welcome:42", 3)) == holder  # Processing
        assert change(storage, holder, Scheduled(enqueue_at=at(60)), at(4))
        assert create_one(storage, unique("welcome:42", 5)) == holder  # Scheduled (a retry)
        assert job_count(storage) == 1

    def test_once_its_job_ended_the_unique_key_makes_a_new_job(self, storage: Storage) -> None:
        first = create_one(storage, unique("sync:7"))
        assert change(storage, first, Succeeded(), at(1))
        second = create_one(storage, unique("sync:7", 2))
        assert second != first
        assert change(storage, second, BOOM, at(3))  # Failed for good: it has ended too
        third = create_one(storage, unique("sync:7", 4))
        assert len({first, second, third}) == 3
        assert create_one(storage, unique("sync:7", 5)) == third
        assert job_count(storage) == 3

    def test_an_awaiting_continuation_holds_its_unique_key(self, storage: Storage) -> None:
        parent = create_one(storage, make_job())
        child = create_one(storage, unique("after", state="Awaiting", parent_id=parent))
        assert create_one(storage, unique("after", 1)) == child
        assert state_of(storage, child) == "Awaiting"

    def test_a_job_removed_by_expiry_frees_its_unique_key(self, storage: Storage) -> None:
        first = create_one(storage, unique("report"))
        assert change(storage, first, Succeeded(), at(1), expire_at=at(100))
        assert storage.delete_expired(at(200), 100) == 1
        second = create_one(storage, unique("report", 300))
        assert second != first
        assert state_of(storage, second) == "Enqueued"

    def test_both_keys_name_the_same_job(self, storage: Storage) -> None:
        first = create_one(storage, replace(keyed("order-1", 0, 100), unique_key="cart:9"))
        # A new idempotency key, but the unique key is held: the holder answers, and the new
        # idempotency key names it from now on.
        again = create_one(storage, replace(keyed("order-2", 1, 101), unique_key="cart:9"))
        assert again == first
        assert change(storage, first, Succeeded(), at(2))
        assert create_one(storage, keyed("order-2", 3, 103)) == first
        assert job_count(storage) == 1

    def test_racing_creates_with_one_unique_key_make_one_job(self, storage: Storage) -> None:
        race(storage, lambda worker, attempt: unique("race", attempt, args=[worker, attempt]))
