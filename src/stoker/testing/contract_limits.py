"""Contract: concurrency slots and rate-limited starts (Storage.admit, release_slot,
promote_waiting)."""

from __future__ import annotations

import threading
from datetime import datetime

from stoker.core import reasons
from stoker.core.limits import JobLimits, Rate
from stoker.core.protocols import Storage
from stoker.core.records import Admission, FetchedJob, Gate, StateChange
from stoker.core.states import Deleted, Enqueued, Scheduled, Succeeded
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    ContractSupport,
    at,
    change,
    create,
    details,
    outcome,
    state_of,
)

KEY = "tenant:7"


def claim(storage: Storage, when: float = 0) -> FetchedJob:
    fetched = storage.fetch_next(["default"], SERVER, WORKER, at(when))
    assert fetched is not None, "a job should be waiting"
    return fetched


def gate(
    job: FetchedJob, when: float = 0, *, concurrency: int = 0, rate: Rate | None = None
) -> Gate:
    limits = JobLimits(
        concurrency_key=KEY if concurrency else None,
        concurrency=concurrency,
        rate_key="api" if rate else None,
        rate=rate,
    )
    return Gate(
        job_id=job.id,
        state_id=job.state_id,
        now=at(when),
        concurrency_key=limits.concurrency_key,
        concurrency=concurrency,
        rate_key=limits.rate_key,
        rate_count=rate.count if rate else 0,
        rate_period=rate.period if rate else 0.0,
        waiting=limits.waiting_record(job.queue, at(when)) if concurrency else None,
    )


def admit_new(storage: Storage, when: float = 0, **limits: object) -> tuple[str, Admission]:
    """Create a job, claim it and ask admit about it."""
    create(storage)
    job = claim(storage, when)
    return job.id, storage.admit(gate(job, when, **limits))  # type: ignore[arg-type]


def finish(storage: Storage, job_id: str, when: float = 1) -> None:
    assert change(storage, job_id, Succeeded(), at(when), expected_states=("Processing",))


def release(storage: Storage, job: FetchedJob, when: float = 1) -> int:
    """The worker's release of the slot `job` (its claim) took."""
    return storage.release_slot(KEY, job.id, job.state_id, at(when))


class ConcurrencyContract(ContractSupport):
    """At most `concurrency` jobs of a key hold a slot; the others wait in line, in order."""

    def admit_slot(
        self, storage: Storage, when: float = 0, limit: int = 1
    ) -> tuple[FetchedJob, bool]:
        """Create a job, claim it and ask for a slot."""
        create(storage)
        return self.admit_queued(storage, when, limit)

    def admit_queued(
        self, storage: Storage, when: float = 0, limit: int = 1
    ) -> tuple[FetchedJob, bool]:
        """Claim the next queued job and ask for a slot."""
        job = claim(storage, when)
        return job, storage.admit(gate(job, when, concurrency=limit)).admitted

    def test_jobs_beyond_the_limit_wait_in_awaiting_saying_why(self, storage: Storage) -> None:
        results = [self.admit_slot(storage, limit=2) for _ in range(3)]
        assert [admitted for _, admitted in results] == [True, True, False]
        waiting = details(storage, results[2][0].id)
        assert waiting.job.state.name == "Awaiting"
        assert waiting.job.state.reason == reasons.waiting_for_slot(KEY, 2)
        assert [entry.name for entry in waiting.history] == ["Enqueued", "Processing", "Awaiting"]
        assert storage.count_by_state()["Awaiting"] == 1
        assert storage.count_by_state()["Processing"] == 2

    def test_a_released_slot_enqueues_the_oldest_waiter(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        second, _ = self.admit_slot(storage)
        third, _ = self.admit_slot(storage)
        finish(storage, first.id)
        assert release(storage, first, 1) == 1
        promoted = details(storage, second.id).job.state
        assert (promoted.name, promoted.reason) == ("Enqueued", reasons.slot_freed(KEY))
        assert state_of(storage, third.id) == "Awaiting"
        assert storage.queue_lengths().get("default") == 1
        assert _ids(self.admit_queued(storage, 2)) == (second.id, True)

    def test_a_waiter_enqueued_for_a_slot_is_not_overtaken(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        second, _ = self.admit_slot(storage)
        newer = create(storage)  # queued ahead of `second`, which is Awaiting now
        finish(storage, first.id)
        release(storage, first, 1)
        assert _ids(self.admit_queued(storage, 2)) == (newer, False)
        assert _ids(self.admit_queued(storage, 2)) == (second.id, True)

    def test_an_outcome_that_gives_the_slot_back_serves_the_line_in_the_same_step(
        self, storage: Storage
    ) -> None:
        first, _ = self.admit_slot(storage)
        waiter, _ = self.admit_slot(storage)
        done = outcome(first, Succeeded(), 1, release_slot=KEY)
        applied, _ = storage.finish_and_fetch(done, [], SERVER, WORKER, at(1))
        assert applied is True
        assert state_of(storage, waiter.id) == "Enqueued"

    def test_a_refused_outcome_still_gives_the_slot_back(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        waiter, _ = self.admit_slot(storage)
        assert change(storage, first.id, Deleted(), at(1))  # deleted while it ran
        assert storage.change_state(outcome(first, Succeeded(), 2, release_slot=KEY)) is False
        assert state_of(storage, waiter.id) == "Enqueued"

    def test_a_finished_jobs_slot_is_free_without_a_release(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        finish(storage, first.id)
        assert self.admit_slot(storage, 2)[1] is True

    def test_a_crashed_servers_job_keeps_its_slot_and_runs_again(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        # The watchdog's requeue: the job goes back in line holding its slot.
        requeued = Enqueued(queue="default", reason="server gone")
        assert change(storage, first.id, requeued, at(1), expected_states=("Processing",))
        second, admitted = self.admit_slot(storage, 2)
        assert admitted is False
        assert _ids(self.admit_queued(storage, 3)) == (first.id, True)
        finish(storage, first.id, 4)
        assert release(storage, first, 4) == 1
        assert state_of(storage, second.id) == "Enqueued"

    def test_the_slot_keeper_enqueues_waiters_a_release_missed(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        second, _ = self.admit_slot(storage)
        finish(storage, first.id)  # ...and its process died before release_slot
        assert storage.promote_waiting(at(2), 100) == 1
        assert state_of(storage, second.id) == "Enqueued"
        assert storage.promote_waiting(at(3), 100) == 0  # it holds the slot now

    def test_a_waiter_that_moved_on_is_skipped(self, storage: Storage) -> None:
        first, _ = self.admit_slot(storage)
        second, _ = self.admit_slot(storage)
        third, _ = self.admit_slot(storage)
        assert change(storage, second.id, Deleted(), at(1), expected_states=("Awaiting",))
        finish(storage, first.id)
        assert release(storage, first, 2) == 1
        assert (state_of(storage, second.id), state_of(storage, third.id)) == (
            "Deleted",
            "Enqueued",
        )

    def test_a_release_by_an_older_claim_keeps_the_newer_claims_slot(
        self, storage: Storage
    ) -> None:
        first, _ = self.admit_slot(storage)
        requeued = Enqueued(queue="default", reason="requeued by hand")
        assert change(storage, first.id, requeued, at(1), expected_states=("Processing",))
        assert _ids(self.admit_queued(storage, 2)) == (first.id, True)
        # The copy that ran under the old claim ends and releases: the new claim keeps its slot.
        release(storage, first, 3)
        assert self.admit_slot(storage, 4)[1] is False

    def test_a_claim_that_moved_on_is_not_admitted(self, storage: Storage) -> None:
        create(storage)
        job = claim(storage)
        assert change(storage, job.id, Deleted(), at(1))
        assert storage.admit(gate(job, 2, concurrency=1)) == Admission(admitted=False)
        assert state_of(storage, job.id) == "Deleted"

    def test_a_slot_freed_before_its_release_goes_to_the_oldest_waiter(
        self, storage: Storage
    ) -> None:
        first, _ = self.admit_slot(storage)
        waiter, _ = self.admit_slot(storage)
        newer, _ = (create(storage), None)
        finish(storage, first.id)  # the outcome is stored; the release is still to come
        assert _ids(self.admit_queued(storage, 2)) == (newer, False)
        assert state_of(storage, waiter.id) == "Enqueued"  # served first, holding the slot
        assert release(storage, first, 3) == 0
        assert state_of(storage, newer) == "Awaiting"

    def test_a_continuation_parked_for_a_slot_is_left_alone_by_its_parent(
        self, storage: Storage
    ) -> None:
        holder, _ = self.admit_slot(storage)
        parent = create(storage, queue="other")
        create(storage, "default", state="Awaiting", parent_id=parent)
        done = Succeeded()
        assert change(storage, parent, done, at(1), release_continuations=True)
        child, admitted = self.admit_queued(storage, 2)
        assert admitted is False  # parked: `holder` has the slot
        assert change(storage, parent, Deleted(), at(3), release_continuations=True)
        assert state_of(storage, child.id) == "Awaiting"
        finish(storage, holder.id, 4)
        assert release(storage, holder, 4) == 1
        assert state_of(storage, child.id) == "Enqueued"

    def test_keys_are_counted_apart(self, storage: Storage) -> None:
        self.admit_slot(storage)
        create(storage)
        job = claim(storage)
        other = Gate(
            job_id=job.id,
            state_id=job.state_id,
            now=at(0),
            concurrency_key="tenant:8",
            concurrency=1,
            waiting=JobLimits("tenant:8", 1).waiting_record("default", at(0)),
        )
        assert storage.admit(other).admitted is True

    def test_racing_admits_never_exceed_the_limit(self, storage: Storage) -> None:
        jobs = []
        for _ in range(12):
            create(storage)
            jobs.append(claim(storage))
        results: list[bool] = []
        start = threading.Barrier(6)

        def admit_two(first: int) -> None:
            start.wait()
            for job in jobs[first : first + 2]:
                results.append(storage.admit(gate(job, concurrency=2)).admitted)

        threads = [threading.Thread(target=admit_two, args=(n * 2,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results) == [False] * 10 + [True] * 2
        assert storage.count_by_state()["Awaiting"] == 10


class RateLimitContract(ContractSupport):
    """At most `rate_count` starts per `rate_period` seconds; later jobs reserve, in order."""

    def rate_admit(self, storage: Storage, when: float, count: int = 2) -> tuple[str, Admission]:
        return admit_new(storage, when, rate=Rate(count=count, period=60.0, text=f"{count}/m"))

    def test_starts_beyond_the_rate_reserve_the_next_turns_in_order(self, storage: Storage) -> None:
        answers = [self.rate_admit(storage, 0)[1] for _ in range(5)]
        assert [answer.admitted for answer in answers] == [True, True, False, False, False]
        assert [_ms(answer.run_at) for answer in answers[2:]] == [at(60), at(60), at(120)]

    def test_a_reserved_start_is_used_when_its_turn_comes(self, storage: Storage) -> None:
        self.rate_admit(storage, 0, count=1)
        job_id, answer = self.rate_admit(storage, 1, count=1)
        assert answer.run_at is not None
        assert _ms(answer.run_at) == at(60)
        self.schedule(storage, job_id, answer.run_at)
        assert storage.enqueue_due_scheduled(at(60), 10) == 1
        again = claim(storage, 60)
        rate = Rate(count=1, period=60.0, text="1/m")
        assert storage.admit(gate(again, 60, rate=rate)).admitted is True
        # ...and the next newcomer's turn is a period after it.
        _, later = self.rate_admit(storage, 61, count=1)
        assert later.run_at is not None
        assert _ms(later.run_at) == at(120)

    def schedule(self, storage: Storage, job_id: str, run_at: datetime) -> None:
        state = Scheduled(enqueue_at=run_at, queue="default")
        assert storage.change_state(
            StateChange(job_id, state.to_record(at(1)), run_at=run_at, expected_states=())
        )

    def test_a_job_back_before_its_turn_keeps_it(self, storage: Storage) -> None:
        self.rate_admit(storage, 0, count=1)
        job_id, answer = self.rate_admit(storage, 1, count=1)
        assert change(storage, job_id, Enqueued(queue="default"), at(2))
        again = claim(storage, 3)
        rate = Rate(count=1, period=60.0, text="1/m")
        early = storage.admit(gate(again, 3, rate=rate))
        assert early.admitted is False
        assert early.run_at == answer.run_at

    def test_a_late_start_is_checked_against_the_starts_really_made(self, storage: Storage) -> None:
        rate = Rate(count=1, period=1.0, text="1/s")
        admit_new(storage, 0, rate=rate)
        job_id, answer = admit_new(storage, 0.5, rate=rate)
        assert answer.run_at is not None
        assert _ms(answer.run_at) == at(1)
        self.schedule(storage, job_id, answer.run_at)
        assert self.back(storage, job_id, 1.9, rate).admitted is True  # late: the poll, a backlog
        _, newcomer = admit_new(storage, 2.05, rate=rate)
        assert newcomer.admitted is False  # one start already lies in its last second
        assert _ms(newcomer.run_at) == at(2.9)

    def test_a_job_back_late_keeps_its_turn(self, storage: Storage) -> None:
        rate = Rate(count=1, period=10.0, text="1/10s")
        admit_new(storage, 0, rate=rate)
        late_id, late = admit_new(storage, 1, rate=rate)
        _, behind = admit_new(storage, 2, rate=rate)
        assert (_ms(late.run_at), _ms(behind.run_at)) == (at(10), at(20))
        assert late.run_at is not None
        self.schedule(storage, late_id, late.run_at)
        _, newcomer = admit_new(storage, 21, rate=rate)
        assert _ms(newcomer.run_at) == at(30)
        assert self.back(storage, late_id, 22, rate).admitted is True

    def back(self, storage: Storage, job_id: str, when: float, rate: Rate) -> Admission:
        """The scheduler enqueued the job; a worker claims it at `when` and asks again."""
        assert change(storage, job_id, Enqueued(queue="default"), at(when))
        again = claim(storage, when)
        assert again.id == job_id
        return storage.admit(gate(again, when, rate=rate))

    def test_the_window_slides(self, storage: Storage) -> None:
        assert self.rate_admit(storage, 0, count=1)[1].admitted is True
        assert self.rate_admit(storage, 60.5, count=1)[1].admitted is True

    def test_a_start_put_off_by_the_rate_holds_no_slot(self, storage: Storage) -> None:
        rate = Rate(count=1, period=60.0, text="1/m")
        _, first = admit_new(storage, 0, concurrency=5, rate=rate)
        _, second = admit_new(storage, 0, concurrency=5, rate=rate)
        assert (first.admitted, second.admitted) == (True, False)
        # Four more slots are free: the second job's deferral did not take one.
        for _ in range(4):
            assert admit_new(storage, 1, concurrency=5)[1].admitted is True
        assert admit_new(storage, 1, concurrency=5)[1].admitted is False


def _ids(result: tuple[FetchedJob, bool]) -> tuple[str, bool]:
    return result[0].id, result[1]


def _ms(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(microsecond=value.microsecond // 1000 * 1000)
