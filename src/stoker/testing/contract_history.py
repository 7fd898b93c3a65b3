"""Contract tests for the exact history (state, reason, data) of the moves storages make alone."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from stoker.core import reasons
from stoker.core.jobs import CRASHES_PARAM
from stoker.core.protocols import Storage
from stoker.core.schedule import occurrence_job, plan_occurrences
from stoker.core.states import (
    Awaiting,
    Deleted,
    Enqueued,
    Failed,
    RetryScheduled,
    Scheduled,
    State,
    Succeeded,
    processing_state,
)
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    ContractSupport,
    at,
    change,
    create,
    details,
    make_job,
    make_recurring,
    make_server,
    ms,
    outcome,
)

# Every expected entry is built by the core (stoker.core.states, stoker.core.reasons), never
# typed here: SQL and Lua rebuild some reasons and data from pieces the core hands them, so
# only what a storage finally wrote shows a reason or a data key that drifted.
Entry = tuple[str, str | None, dict[str, Any]]
DONE = Succeeded(result=1, latency_ms=1.0, duration_ms=2.0)
BOOM = Failed(exception_type="RuntimeError", message="boom", traceback="Traceback ...")


def entry(state: State) -> Entry:
    """A history entry of `state` exactly as the core builds it: name, reason and data."""
    return (state.name, state.reason, state.data())


def entries(storage: Storage, job_id: str) -> list[Entry]:
    """The job's history as stored, oldest first, in the form `entry` gives."""
    return [(e.name, e.reason, dict(e.data)) for e in details(storage, job_id).history]


def entered_at(storage: Storage, job_id: str) -> datetime:
    """When the job entered its current state, to the millisecond."""
    return ms(details(storage, job_id).history[-1].created_at)


def claim(
    storage: Storage, server_id: str = SERVER, worker_id: str = WORKER, now: float = 1
) -> str:
    fetched = storage.fetch_next(["default"], server_id, worker_id, at(now))
    assert fetched is not None
    return fetched.id


class ClaimHistoryContract(ContractSupport):
    """Claims (Enqueued -> Processing), alone, with a worker's outcome, and in batches."""

    def test_a_fetched_job_is_processing_with_its_server_and_worker_and_no_reason(
        self, storage: Storage
    ) -> None:
        job_id = create(storage, "mail", created_at=at(1))
        assert storage.fetch_next(["mail"], SERVER, WORKER, at(5)) is not None
        claimed = processing_state(SERVER, WORKER)
        assert claimed.reason is reasons.FETCHED
        assert entries(storage, job_id) == [entry(Enqueued(queue="mail")), entry(claimed)]
        assert entered_at(storage, job_id) == at(5)

    def test_a_claim_made_with_a_workers_outcome_writes_the_same_entries(
        self, storage: Storage
    ) -> None:
        first = create(storage, created_at=at(1))
        second = create(storage, created_at=at(2))
        job = storage.fetch_next(["default"], SERVER, WORKER, at(5))
        assert job is not None
        applied, fetched = storage.finish_and_fetch(
            outcome(job, DONE, 6), ["default"], SERVER, "worker-2", at(6)
        )
        assert applied
        assert fetched is not None
        assert fetched.id == second
        enqueued, claimed = entry(Enqueued()), entry(processing_state(SERVER, WORKER))
        assert entries(storage, first) == [enqueued, claimed, entry(DONE)]
        assert entries(storage, second) == [enqueued, entry(processing_state(SERVER, "worker-2"))]
        assert entered_at(storage, second) == at(6)

    def test_concurrent_claims_each_name_the_worker_that_got_the_job(
        self, storage: Storage
    ) -> None:
        # Concurrent workers' steps may be run as one batch (one statement, one script): each
        # claim must still record the worker it was handed to.
        ids = storage.create_jobs([make_job(created_at=at(n / 1000)) for n in range(40)])

        def work(worker: str) -> list[str]:
            done: list[str] = []
            job = storage.fetch_next(["default"], SERVER, worker, at(5))
            while job is not None:
                change_ = outcome(job, DONE, 6)
                applied, following = storage.finish_and_fetch(
                    change_, ["default"], SERVER, worker, at(6)
                )
                assert applied
                done.append(job.id)
                job = following
            return done

        workers = [f"worker-{number}" for number in range(4)]
        with ThreadPoolExecutor(len(workers)) as pool:
            by_worker = dict(zip(workers, pool.map(work, workers), strict=True))
        assert sorted(job_id for done in by_worker.values() for job_id in done) == sorted(ids)
        for worker, done in by_worker.items():
            claimed = entry(processing_state(SERVER, worker))
            for job_id in done:
                assert entries(storage, job_id) == [entry(Enqueued()), claimed, entry(DONE)]


class PromotionHistoryContract(ContractSupport):
    """`enqueue_due_scheduled`: Scheduled -> Enqueued because the scheduled time was reached."""

    def test_a_due_job_is_enqueued_on_its_queue_because_its_time_was_reached(
        self, storage: Storage
    ) -> None:
        job_id = create(storage, "mail", state="Scheduled", created_at=at(1), run_at=at(30))
        assert storage.enqueue_due_scheduled(at(40), 10) == 1
        promoted = Enqueued(queue="mail", reason=reasons.SCHEDULED_TIME_REACHED)
        scheduled = Scheduled(enqueue_at=at(30), queue="mail")
        assert entries(storage, job_id) == [entry(scheduled), entry(promoted)]
        assert entered_at(storage, job_id) == at(40)

    def test_a_promoted_retry_keeps_only_its_queue(self, storage: Storage) -> None:
        # The Enqueued entry is built afresh: nothing of the retry's data carries over.
        job_id = create(storage, "mail", created_at=at(1))
        assert storage.fetch_next(["mail"], SERVER, WORKER, at(2)) is not None
        retry = RetryScheduled(
            enqueue_at=at(30),
            queue="mail",
            attempt=1,
            retries=3,
            exception_type="RuntimeError",
            message="boom",
            reason=reasons.retry_attempt(1, 3, "RuntimeError", "boom"),
        )
        assert change(storage, job_id, retry, at(3), queue="mail", run_at=at(30))
        assert storage.enqueue_due_scheduled(at(40), 10) == 1
        assert entries(storage, job_id) == [
            entry(Enqueued(queue="mail")),
            entry(processing_state(SERVER, WORKER)),
            entry(retry),
            entry(Enqueued(queue="mail", reason=reasons.SCHEDULED_TIME_REACHED)),
        ]


class OrphanHistoryContract(ContractSupport):
    """`requeue_orphaned_jobs`: Processing -> Enqueued naming the server that is gone."""

    def test_an_orphan_is_requeued_naming_its_dead_server_and_counting_one_crash(
        self, storage: Storage
    ) -> None:
        storage.announce_server(make_server("dead"))
        job_id = create(storage, params={"owner": "ops"})
        claim(storage, "dead")
        storage.remove_server("dead")
        assert storage.requeue_orphaned_jobs(at(10), 100) == [job_id]
        requeued = Enqueued(reason=reasons.orphan_requeued("dead"))
        claimed = processing_state("dead", WORKER)
        assert entries(storage, job_id) == [entry(Enqueued()), entry(claimed), entry(requeued)]
        assert entered_at(storage, job_id) == at(10)
        assert dict(details(storage, job_id).job.params) == {"owner": "ops", CRASHES_PARAM: 1}

    def test_a_second_crash_names_the_second_server_and_counts_two(self, storage: Storage) -> None:
        storage.announce_server(make_server("first", heartbeat_at=at(0)))
        job_id = create(storage)
        claim(storage, "first")
        assert storage.remove_dead_servers(at(5)) == ["first"]
        assert storage.requeue_orphaned_jobs(at(6), 100) == [job_id]
        storage.announce_server(make_server("second", heartbeat_at=at(7)))
        claim(storage, "second", "worker-2", now=8)
        assert storage.remove_dead_servers(at(20)) == ["second"]
        assert storage.requeue_orphaned_jobs(at(21), 100) == [job_id]
        assert entries(storage, job_id) == [
            entry(Enqueued()),
            entry(processing_state("first", WORKER)),
            entry(Enqueued(reason=reasons.orphan_requeued("first"))),
            entry(processing_state("second", "worker-2")),
            entry(Enqueued(reason=reasons.orphan_requeued("second"))),
        ]
        assert dict(details(storage, job_id).job.params) == {CRASHES_PARAM: 2}

    def test_a_job_of_a_server_never_announced_names_that_server(self, storage: Storage) -> None:
        # reasons.UNKNOWN_SERVER stands for a Processing job with no server id at all, which
        # no claim writes; a server without a record is still named.
        job_id = create(storage, "mail")
        assert storage.fetch_next(["mail"], "ghost", WORKER, at(1)) is not None
        assert storage.requeue_orphaned_jobs(at(2), 100) == [job_id]
        requeued = Enqueued(queue="mail", reason=reasons.orphan_requeued("ghost"))
        assert entries(storage, job_id)[-1] == entry(requeued)
        assert dict(details(storage, job_id).job.params) == {CRASHES_PARAM: 1}


def family(storage: Storage, *on_states: tuple[str, ...]) -> tuple[str, list[str]]:
    """A parent in `default` and one Awaiting child per `on_states`, on queue child-<n>."""
    parent = create(storage, created_at=at(0))
    children = [
        create(storage, f"child-{n}", state="Awaiting", parent_id=parent, on_states=states)
        for n, states in enumerate(on_states)
    ]
    return parent, children


def waiting(parent: str, on_states: tuple[str, ...], number: int) -> Entry:
    """The entry a child of `family` was created with."""
    return entry(Awaiting(parent_id=parent, on_states=on_states, queue=f"child-{number}"))


def released(parent: str, parent_state: str, number: int) -> Entry:
    reason = reasons.continuation_met(parent, parent_state)
    return entry(Enqueued(queue=f"child-{number}", reason=reason))


def not_met(parent: str, parent_state: str) -> Entry:
    return entry(Deleted(reason=reasons.continuation_not_met(parent, parent_state)))


class ContinuationHistoryContract(ContractSupport):
    """Continuations resolved by their parent: Awaiting -> Enqueued, or -> Deleted."""

    def test_a_continuation_is_enqueued_because_its_parent_reached_its_state(
        self, storage: Storage
    ) -> None:
        parent, (child,) = family(storage, ("Succeeded",))
        assert change(storage, parent, DONE, at(5), release_continuations=True)
        expected = [waiting(parent, ("Succeeded",), 0), released(parent, "Succeeded", 0)]
        assert entries(storage, child) == expected
        assert entered_at(storage, child) == at(5)

    def test_a_continuation_released_with_a_workers_outcome_has_the_same_entry(
        self, storage: Storage
    ) -> None:
        parent, (child,) = family(storage, ("Succeeded",))
        job = storage.fetch_next(["default"], SERVER, WORKER, at(2))
        assert job is not None
        finished = outcome(job, DONE, 5, release_continuations=True)
        applied, _ = storage.finish_and_fetch(finished, ["default"], SERVER, WORKER, at(5))
        assert applied
        expected = [waiting(parent, ("Succeeded",), 0), released(parent, "Succeeded", 0)]
        assert entries(storage, child) == expected

    def test_a_continuation_whose_parent_ended_otherwise_is_deleted_without_data(
        self, storage: Storage
    ) -> None:
        parent, (child,) = family(storage, ("Failed",))
        applied = change(
            storage,
            parent,
            DONE,
            at(5),
            release_continuations=True,
            deleted_children_expire_at=at(500),
        )
        assert applied
        expected = [waiting(parent, ("Failed",), 0), not_met(parent, "Succeeded")]
        assert entries(storage, child) == expected
        assert entered_at(storage, child) == at(5)

    def test_a_deleted_parent_is_named_deleted_to_its_continuations(self, storage: Storage) -> None:
        parent, (on_success, on_deleted) = family(storage, ("Succeeded",), ("Succeeded", "Deleted"))
        gone = Deleted(reason=reasons.DELETED)
        assert change(storage, parent, gone, at(5), expire_at=at(900), release_continuations=True)
        expected = [waiting(parent, ("Succeeded",), 0), not_met(parent, "Deleted")]
        assert entries(storage, on_success) == expected
        expected = [waiting(parent, ("Succeeded", "Deleted"), 1), released(parent, "Deleted", 1)]
        assert entries(storage, on_deleted) == expected

    def test_the_continuations_of_a_deleted_continuation_are_resolved_in_turn(
        self, storage: Storage
    ) -> None:
        # No grandchild may wait forever on a job that was deleted because its own condition
        # could no longer be met: the deletion resolves its children, and theirs, all the way.
        parent, (child,) = family(storage, ("Succeeded",))
        kids = [
            create(storage, f"grand-{n}", state="Awaiting", parent_id=child, on_states=on)
            for n, on in enumerate([("Succeeded",), ("Succeeded", "Deleted")])
        ]
        great = create(storage, "great", state="Awaiting", parent_id=kids[0], on_states=("Failed",))
        gone = Deleted(reason=reasons.DELETED)
        assert change(storage, parent, gone, at(5), expire_at=at(900), release_continuations=True)
        assert entries(storage, child)[-1] == not_met(parent, "Deleted")
        assert entries(storage, kids[0])[-1] == not_met(child, "Deleted")
        met = Enqueued(queue="grand-1", reason=reasons.continuation_met(child, "Deleted"))
        assert entries(storage, kids[1])[-1] == entry(met)
        assert entries(storage, great)[-1] == not_met(kids[0], "Deleted")
        assert [len(entries(storage, job)) for job in (child, *kids, great)] == [2, 2, 2, 2]
        assert entered_at(storage, great) == at(5)

    def test_a_failed_parent_releases_only_the_continuations_waiting_for_failure(
        self, storage: Storage
    ) -> None:
        # Failed is not final: a continuation waiting for success waits on, with no new entry.
        parent, (on_success, on_failure) = family(storage, ("Succeeded",), ("Failed",))
        assert change(storage, parent, BOOM, at(5), release_continuations=True)
        assert entries(storage, on_success) == [waiting(parent, ("Succeeded",), 0)]
        expected = [waiting(parent, ("Failed",), 1), released(parent, "Failed", 1)]
        assert entries(storage, on_failure) == expected

    def test_a_continuation_of_a_finished_parent_starts_resolved(self, storage: Storage) -> None:
        parent = create(storage, created_at=at(0))
        assert change(storage, parent, DONE, at(5))
        late = [
            make_job(
                f"child-{n}", state="Awaiting", parent_id=parent, on_states=on, created_at=at(9)
            )
            for n, on in enumerate([("Succeeded",), ("Failed",)])
        ]
        met, unmet = storage.create_jobs(late)
        assert entries(storage, met) == [released(parent, "Succeeded", 0)]
        assert entries(storage, unmet) == [not_met(parent, "Succeeded")]
        assert (entered_at(storage, met), entered_at(storage, unmet)) == (at(9), at(9))


class RecurringHistoryContract(ContractSupport):
    """`fire_recurring` stores the reason the scheduler (or a person) gave each job, verbatim."""

    def test_each_occurrence_is_enqueued_with_the_reason_naming_it(self, storage: Storage) -> None:
        record = dataclasses.replace(
            make_recurring("nightly", next_run=at(60), queue="reports"), misfire="all"
        )
        storage.save_recurring(record)
        jobs, next_run = plan_occurrences(record, at(200))
        ids = storage.fire_recurring("nightly", at(60), next_run, jobs, at(200))
        assert ids is not None
        assert len(ids) == 3
        for job_id, occurrence in zip(ids, (60, 120, 180), strict=True):
            reason = reasons.recurring_occurrence("nightly", at(occurrence))
            assert entries(storage, job_id) == [entry(Enqueued(queue="reports", reason=reason))]
            assert entered_at(storage, job_id) == at(200)

    def test_a_job_triggered_now_keeps_the_reason_naming_its_recurring_job(
        self, storage: Storage
    ) -> None:
        record = make_recurring("nightly", next_run=at(60), queue="reports")
        storage.save_recurring(record)
        # As the client's trigger does: the job of an occurrence, with the schedule unchanged.
        job = occurrence_job(record, at(30), reasons.triggered_now("nightly"))
        ids = storage.fire_recurring("nightly", at(60), at(60), [job], at(30))
        assert ids is not None
        triggered = Enqueued(queue="reports", reason=reasons.triggered_now("nightly"))
        assert entries(storage, ids[0]) == [entry(triggered)]
        assert entered_at(storage, ids[0]) == at(30)
