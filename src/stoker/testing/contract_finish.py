"""Contract tests for `finish_and_fetch`: a worker's outcome and its next claim in one step."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from stoker.core.protocols import Storage
from stoker.core.records import CounterIncrement, FetchedJob, StateChange
from stoker.core.states import Deleted, Enqueued, Succeeded
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    ContractSupport,
    at,
    change,
    create,
    details,
    history_names,
    make_job,
    outcome,
    state_of,
)


def claim(storage: Storage, queues: list[str] | None = None) -> FetchedJob:
    fetched = storage.fetch_next(queues or ["default"], SERVER, WORKER, at(5))
    assert fetched is not None
    return fetched


def succeeded(job: FetchedJob, when: float = 6, **options: Any) -> StateChange:
    """The change a worker stores when `job` succeeded, fenced by its Processing state id."""
    return outcome(job, Succeeded(result=1, latency_ms=1.0, duration_ms=1.0), when, **options)


def finish(
    storage: Storage, change_: StateChange, queues: list[str] | None = None, when: float = 6
) -> tuple[bool, FetchedJob | None]:
    return storage.finish_and_fetch(change_, queues or ["default"], SERVER, WORKER, at(when))


class FinishAndFetchContract(ContractSupport):
    """`finish_and_fetch`: `change_state` then `fetch_next`, as one step."""

    def test_finishes_the_job_and_claims_the_next(self, storage: Storage) -> None:
        first = create(storage, created_at=at(1))
        second = create(storage, created_at=at(2))
        job = claim(storage)
        counters = (CounterIncrement("stats:succeeded"),)
        applied, fetched = finish(storage, succeeded(job, counters=counters))
        assert applied
        assert fetched is not None
        assert fetched.id == second
        assert history_names(storage, first) == ["Enqueued", "Processing", "Succeeded"]
        assert history_names(storage, second) == ["Enqueued", "Processing"]
        assert details(storage, second).job.state.data == {"server_id": SERVER, "worker_id": WORKER}
        assert storage.job_states([second])[second][1] == fetched.state_id
        assert storage.get_counters(["stats:succeeded"]) == {"stats:succeeded": 1}

    def test_a_refused_change_writes_nothing_and_still_claims(self, storage: Storage) -> None:
        cancelled = create(storage, created_at=at(1))
        waiting = create(storage, created_at=at(2))
        job = claim(storage)
        # Deleted while running (cancellation): the late outcome must not overwrite it.
        assert change(storage, cancelled, Deleted(), at(5.5), expected_states=("Processing",))
        applied, fetched = finish(storage, succeeded(job))
        assert not applied
        assert history_names(storage, cancelled) == ["Enqueued", "Processing", "Deleted"]
        assert fetched is not None
        assert fetched.id == waiting

    def test_a_stale_state_id_is_refused(self, storage: Storage) -> None:
        job_id = create(storage, created_at=at(1))
        job = claim(storage)
        stale = succeeded(job)
        fenced = StateChange(stale.job_id, stale.state, (), job.state_id + 1_000_000)
        applied, fetched = finish(storage, fenced)
        assert (applied, fetched) == (False, None)
        assert state_of(storage, job_id) == "Processing"

    def test_nothing_to_claim_still_finishes(self, storage: Storage) -> None:
        job_id = create(storage, created_at=at(1))
        applied, fetched = finish(storage, succeeded(claim(storage)))
        assert (applied, fetched) == (True, None)
        assert state_of(storage, job_id) == "Succeeded"

    def test_without_queues_only_the_outcome_is_stored(self, storage: Storage) -> None:
        # An async job's outcome, stored by a finisher thread: it must never claim a job.
        job_id, waiting = create(storage, created_at=at(1)), create(storage, created_at=at(2))
        job = claim(storage)
        outcomes = [storage.finish_and_fetch(succeeded(job), [], SERVER, WORKER, at(6))]
        outcomes.append(storage.finish_and_fetch(succeeded(job), [], SERVER, WORKER, at(7)))
        assert outcomes == [(True, None), (False, None)]  # the second is fenced out
        assert history_names(storage, job_id) == ["Enqueued", "Processing", "Succeeded"]
        assert state_of(storage, waiting) == "Enqueued"

    def test_claims_by_queue_priority(self, storage: Storage) -> None:
        create(storage, "mail", created_at=at(1))
        low = create(storage, "default", created_at=at(2))
        high = create(storage, "critical", created_at=at(3))
        job = claim(storage, ["mail"])
        queues = ["critical", "default", "mail"]
        _, fetched = finish(storage, succeeded(job), queues)
        assert fetched is not None
        assert fetched.id == high
        _, fetched = finish(storage, succeeded(fetched, 7), queues, when=7)
        assert fetched is not None
        assert fetched.id == low

    def test_the_claim_sees_the_change(self, storage: Storage) -> None:
        # One step, in order: a job put back on its queue is the one claimed next.
        job_id = create(storage, created_at=at(1))
        job = claim(storage)
        requeue = StateChange(
            job.id,
            Enqueued(queue="default").to_record(at(6)),
            expected_states=("Processing",),
            expected_state_id=job.state_id,
            queue="default",
        )
        applied, fetched = finish(storage, requeue)
        assert applied
        assert fetched is not None
        assert fetched.id == job_id
        assert fetched.state_id != job.state_id
        names = ["Enqueued", "Processing", "Enqueued", "Processing"]
        assert history_names(storage, job_id) == names

    def test_releases_continuations_with_the_change(self, storage: Storage) -> None:
        parent = create(storage, created_at=at(1))
        (child,) = storage.create_jobs(
            [make_job(state="Awaiting", parent_id=parent, created_at=at(2))]
        )
        job = claim(storage)
        applied, fetched = finish(storage, succeeded(job, release_continuations=True))
        assert applied
        # The released child is Enqueued by the change, so the same step may claim it.
        assert fetched is not None
        assert fetched.id == child

    def test_concurrent_workers_finish_each_job_once(self, storage: Storage) -> None:
        jobs = [make_job(created_at=at(n / 1000)) for n in range(60)]
        ids = storage.create_jobs(jobs)

        def work(worker: str) -> list[str]:
            done: list[str] = []
            current = storage.fetch_next(["default"], SERVER, worker, at(5))
            while current is not None:
                applied, current_next = storage.finish_and_fetch(
                    succeeded(current), ["default"], SERVER, worker, at(6)
                )
                assert applied
                done.append(current.id)
                current = current_next
            return done

        with ThreadPoolExecutor(4) as pool:
            finished = [job for done in pool.map(work, ["w1", "w2", "w3", "w4"]) for job in done]
        assert sorted(finished) == sorted(ids)
        assert storage.count_by_state()["Succeeded"] == len(ids)
