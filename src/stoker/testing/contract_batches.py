"""Contract: batches are created with their jobs at once, counted per state by the storage,
and finished exactly once, releasing their continuations."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from stoker.core import reasons
from stoker.core.batches import ANY_OUTCOME, ONLY_SUCCEEDED, NewBatch, awaiting_batch_record
from stoker.core.errors import BatchNotFoundError
from stoker.core.protocols import Storage
from stoker.core.records import NewJob
from stoker.core.states import Deleted, Enqueued, Failed, Succeeded
from stoker.testing.contract_support import (
    ContractSupport,
    at,
    change,
    details,
    drain,
    fetch_id,
    make_job,
    state_of,
)

BOOM = Failed(exception_type="RuntimeError", message="boom")


def batch(batch_id: str = "b-1", when: float = 0) -> NewBatch:
    return NewBatch(id=batch_id, description=f"batch {batch_id}", created_at=at(when))


def member(batch_id: str = "b-1", **options: object) -> NewJob:
    return replace(make_job(**options), batch_id=batch_id)  # type: ignore[arg-type]


def continuation(
    batch_id: str = "b-1", on_states: tuple[str, ...] = ANY_OUTCOME, when: float = 0
) -> NewJob:
    waiting = awaiting_batch_record(batch_id, on_states, "default", at(when))
    return replace(make_job(), state=waiting, awaits_batch=batch_id, on_states=on_states)


def settle(storage: Storage, job_ids: list[str], state: object, when: float) -> None:
    for job_id in job_ids:
        assert change(storage, job_id, state, at(when))  # type: ignore[arg-type]


class BatchContract(ContractSupport):
    """Storage.create_batch, continue_batch, finish_batches and the batch reads."""

    def test_a_batch_and_its_jobs_are_created_together(self, storage: Storage) -> None:
        ids = storage.create_batch(batch(), [member(), member(), member(), continuation()])
        found = storage.get_batch("b-1")
        assert found is not None
        assert (found.total, found.state, found.description) == (3, "Started", "batch b-1")
        assert found.counts["Enqueued"] == 3
        assert found.continuations == (ids[3],)
        assert state_of(storage, ids[3]) == "Awaiting"
        assert [job.id for job in storage.batch_jobs("b-1")] == ids[:3]

    def test_a_used_batch_id_is_refused_and_nothing_is_stored(self, storage: Storage) -> None:
        storage.create_batch(batch(), [member()])
        with pytest.raises(ValueError, match="b-1"):
            storage.create_batch(batch(), [member(), member()])
        assert sum(storage.count_by_state().values()) == 1

    def test_members_are_counted_by_state_whoever_moves_them(self, storage: Storage) -> None:
        ids = storage.create_batch(batch(), [member() for _ in range(4)])
        claimed = [fetch_id(storage, ["default"]), fetch_id(storage, ["default"])]
        assert claimed == ids[:2]  # claims are the storage's own step
        assert change(storage, ids[0], Succeeded(), at(1))
        assert change(storage, ids[3], Deleted(), at(1))
        found = storage.get_batch("b-1")
        assert found is not None
        counts = {name: n for name, n in found.counts.items() if n}
        assert counts == {"Processing": 1, "Succeeded": 1, "Deleted": 1, "Enqueued": 1}
        assert found.settled == 2

    def test_a_batch_finishes_once_every_member_settled(self, storage: Storage) -> None:
        ids = storage.create_batch(batch(), [member(), member(), continuation()])
        settle(storage, ids[:1], Succeeded(), 1)
        assert storage.finish_batches(at(2), 10) == []
        settle(storage, ids[1:2], Succeeded(), 3)
        assert storage.finish_batches(at(4), 10) == ["b-1"]
        assert storage.finish_batches(at(5), 10) == []
        released = details(storage, ids[2]).job.state
        assert (released.name, released.reason) == (
            "Enqueued",
            reasons.batch_finished("b-1", "Succeeded"),
        )
        found = storage.get_batch("b-1")
        assert found is not None
        assert (found.state, found.outcome) == ("Succeeded", "Succeeded")
        assert found.finished_at is not None
        assert storage.queue_lengths().get("default") == 1

    def test_a_continuation_waits_for_the_outcome_it_asked_for(self, storage: Storage) -> None:
        jobs = [member(), member(), continuation(on_states=ONLY_SUCCEEDED), continuation()]
        ids = storage.create_batch(batch(), jobs)
        settle(storage, ids[:1], Succeeded(), 1)
        settle(storage, ids[1:2], BOOM, 1)
        assert storage.finish_batches(at(2), 10) == ["b-1"]
        only_success = details(storage, ids[2]).job.state
        assert (only_success.name, only_success.reason) == (
            "Deleted",
            reasons.batch_condition_not_met("b-1", "Failed"),
        )
        assert state_of(storage, ids[3]) == "Enqueued"

    def test_racing_finishers_finish_a_batch_once(self, storage: Storage) -> None:
        ids = storage.create_batch(batch(), [member(), continuation()])
        settle(storage, ids[:1], Succeeded(), 1)
        finished: list[str] = []
        start = threading.Barrier(6)

        def finish() -> None:
            start.wait()
            finished.extend(storage.finish_batches(at(2), 10))

        threads = [threading.Thread(target=finish) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert finished == ["b-1"]
        history = [entry.name for entry in details(storage, ids[1]).history]
        assert history == ["Awaiting", "Enqueued"]

    def test_a_continuation_added_later_waits_or_starts_as_the_batch_is(
        self, storage: Storage
    ) -> None:
        ids = storage.create_batch(batch(), [member()])
        early = storage.continue_batch(continuation(when=1))
        assert state_of(storage, early) == "Awaiting"
        settle(storage, ids, BOOM, 2)
        assert storage.finish_batches(at(3), 10) == ["b-1"]
        late = storage.continue_batch(continuation(when=4))
        picky = storage.continue_batch(continuation(on_states=ONLY_SUCCEEDED, when=4))
        assert [state_of(storage, i) for i in (early, late, picky)] == [
            "Enqueued",
            "Enqueued",
            "Deleted",
        ]
        found = storage.get_batch("b-1")
        assert found is not None
        assert set(found.continuations) == {early, late, picky}

    def test_continuing_an_unknown_batch_raises_and_stores_nothing(self, storage: Storage) -> None:
        with pytest.raises(BatchNotFoundError):
            storage.continue_batch(continuation("nope"))
        assert sum(storage.count_by_state().values()) == 0
        assert storage.get_batch("nope") is None

    def test_an_empty_batch_finishes_at_the_first_look(self, storage: Storage) -> None:
        (waiting,) = storage.create_batch(batch(), [continuation()])
        assert storage.finish_batches(at(1), 10) == ["b-1"]
        assert state_of(storage, waiting) == "Enqueued"

    def test_a_requeued_member_does_not_finish_the_batch_again(self, storage: Storage) -> None:
        ids = storage.create_batch(batch(), [member(), continuation()])
        settle(storage, ids[:1], BOOM, 1)
        assert storage.finish_batches(at(2), 10) == ["b-1"]
        assert change(storage, ids[0], Enqueued(queue="default"), at(3))
        found = storage.get_batch("b-1")
        assert found is not None
        assert found.state == "Started"  # running again; its outcome stays on record
        settle(storage, ids[:1], Succeeded(), 4)
        assert storage.finish_batches(at(5), 10) == []
        assert [e.name for e in details(storage, ids[1]).history] == ["Awaiting", "Enqueued"]

    def test_batches_are_listed_newest_first(self, storage: Storage) -> None:
        for number in range(3):
            storage.create_batch(batch(f"b-{number}", when=number), [member(f"b-{number}")])
        assert [b.id for b in storage.list_batches()] == ["b-2", "b-1", "b-0"]
        assert [b.id for b in storage.list_batches(offset=1, limit=1)] == ["b-1"]
        assert storage.count_batches() == 3
        assert storage.get_batch("b-9") is None
        assert storage.batch_jobs("b-9") == []

    def test_a_big_batch_finishes_by_its_counts(self, storage: Storage) -> None:
        members = [replace(member(), args=f"[{n}]") for n in range(2000)]
        ids = storage.create_batch(batch(), [*members, continuation()])
        assert len(ids) == 2001
        drained = drain(storage, ["default"])
        for job_id in drained:
            assert change(storage, job_id, Succeeded(), at(1), expected_states=("Processing",))
        found = storage.get_batch("b-1")
        assert found is not None
        assert (found.total, found.settled) == (2000, 2000)
        assert storage.finish_batches(at(2), 10) == ["b-1"]
        assert [job.id for job in storage.batch_jobs("b-1", offset=1990, limit=20)] == ids[
            1990:2000
        ]
