"""Contract tests for `change_state`: compare-and-set, history, placement, counters, expiry."""

from __future__ import annotations

from stoker.core.protocols import Storage
from stoker.core.records import CounterIncrement, LogLine, StateChange
from stoker.core.states import Deleted, Enqueued, Failed, Processing, Scheduled, Succeeded
from stoker.testing.clock import FakeClock
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    change,
    create,
    details,
    drain,
    fetch_id,
    history_names,
    ms,
    state_of,
)

BOOM = Failed(exception_type="ValueError", message="boom", traceback="Traceback ...", reason="x")


class ChangeStateContract(ContractSupport):
    """The compare-and-set itself and the history it writes."""

    def test_change_applies_when_the_expected_state_matches(self, storage: Storage) -> None:
        job_id = create(storage)
        assert change(storage, job_id, BOOM, at(1), expected_states=("Processing", "Enqueued"))
        assert state_of(storage, job_id) == "Failed"
        assert storage.count_by_state()["Failed"] == 1
        assert storage.count_by_state()["Enqueued"] == 0

    def test_change_is_refused_and_writes_nothing_otherwise(self, storage: Storage) -> None:
        job_id = create(storage, params={"a": 1})
        before = details(storage, job_id)
        applied = change(
            storage,
            job_id,
            Enqueued(queue="other"),
            at(1),
            expected_states=("Failed", "Scheduled"),
            queue="other",
            params={"a": 2, "b": 3},
            counters=(CounterIncrement("stats:refused"),),
        )
        assert applied is False
        after = details(storage, job_id)
        assert_same(after, before)
        assert storage.get_counters(["stats:refused"]) == {"stats:refused": 0}
        assert storage.queue_lengths().get("other", 0) == 0
        assert fetch_id(storage, ["other"]) is None
        assert fetch_id(storage, ["default"]) == job_id

    def test_state_id_fences_stale_changes(self, storage: Storage) -> None:
        job_id = create(storage)
        first_id = storage.job_states([job_id])[job_id][1]
        processing = Processing(server_id="s", worker_id="w")
        assert change(storage, job_id, processing, at(1), expected_state_id=first_id)
        second_id = storage.job_states([job_id])[job_id][1]
        assert second_id != first_id
        assert not change(storage, job_id, BOOM, at(2), expected_state_id=first_id)
        assert storage.job_states([job_id]) == {job_id: ("Processing", second_id)}
        assert change(storage, job_id, Succeeded(result=None), at(3), expected_state_id=second_id)
        assert state_of(storage, job_id) == "Succeeded"

    def test_change_of_an_unknown_job_is_false(self, storage: Storage) -> None:
        create(storage)
        assert change(storage, "no-such-job", Deleted(), at(1)) is False
        assert storage.count_by_state()["Deleted"] == 0

    def test_history_grows_oldest_first_and_round_trips(self, storage: Storage) -> None:
        job_id = create(storage, reason="created by test")
        states = [
            Processing(server_id="s1", worker_id="w1").to_record(at(1.5)),
            BOOM.to_record(at(2.25)),
            Scheduled(enqueue_at=at(60), queue="default", reason="retry 1 of 10").to_record(at(3)),
            Succeeded(result={"$tuple": [1, "ü"]}, latency_ms=1.5, duration_ms=20.0).to_record(
                at(4)
            ),
        ]
        for record in states:
            assert storage.change_state(StateChange(job_id, record))
        found = details(storage, job_id)
        assert [entry.name for entry in found.history] == [
            "Enqueued",
            "Processing",
            "Failed",
            "Scheduled",
            "Succeeded",
        ]
        assert found.history[0].reason == "created by test"
        assert_same(found.history[1:], tuple(states))
        assert_same(found.job.state, states[-1])

    def test_enqueued_change_moves_the_job_to_the_tail_of_its_queue(self, storage: Storage) -> None:
        moved = create(storage, "default", created_at=at(1))
        waiting = create(storage, "other", created_at=at(2))
        assert change(storage, moved, Enqueued(queue="other"), at(3), queue="other")
        assert details(storage, moved).job.queue == "other"
        assert fetch_id(storage, ["default"], at(4)) is None
        assert storage.queue_lengths().get("other") == 2
        assert drain(storage, ["other"], at(4)) == [waiting, moved]

    def test_scheduled_change_takes_the_job_off_its_queue(self, storage: Storage) -> None:
        job_id = create(storage)
        retry = Scheduled(enqueue_at=at(60))
        assert change(storage, job_id, retry, at(1), run_at=at(60))
        assert storage.queue_lengths().get("default", 0) == 0
        assert fetch_id(storage, ["default"], at(2)) is None
        assert storage.enqueue_due_scheduled(at(59), 10) == 0
        assert storage.enqueue_due_scheduled(at(60), 10) == 1
        assert fetch_id(storage, ["default"], at(61)) == job_id

    def test_params_are_merged(self, storage: Storage) -> None:
        job_id = create(storage, params={"keep": "me", "retry": 0})
        assert change(storage, job_id, BOOM, at(1), params={"retry": 1, "new": {"x": [1, 2]}})
        params = dict(details(storage, job_id).job.params)
        assert params == {"keep": "me", "retry": 1, "new": {"x": [1, 2]}}


class CountersAndExpiryContract(ContractSupport):
    """Counters incremented with a change, and jobs expiring after a final state."""

    def test_counters_are_incremented_and_expire(self, storage: Storage) -> None:
        daily = "stats:succeeded:2036-03-01"
        counters = (CounterIncrement("stats:succeeded"), CounterIncrement(daily, 2, at(3600)))
        first, second = create(storage), create(storage)
        assert change(storage, first, Succeeded(), at(1), counters=counters)
        assert change(storage, second, Succeeded(), at(2), counters=counters)
        keys = ["stats:succeeded", daily, "stats:missing"]
        assert storage.get_counters(keys) == {"stats:succeeded": 2, daily: 4, "stats:missing": 0}
        storage.delete_expired(at(1800), 100)
        assert storage.get_counters([daily]) == {daily: 4}
        storage.delete_expired(at(7200), 100)
        assert storage.get_counters(keys) == {"stats:succeeded": 2, daily: 0, "stats:missing": 0}

    def test_folded_counters_are_added_in_one_write_and_expire(self, storage: Storage) -> None:
        daily = "stats:failed:2036-03-01"
        assert change(storage, create(storage), BOOM, at(1), counters=(CounterIncrement(daily),))
        storage.add_counters([CounterIncrement("stats:failed", 5), CounterIncrement(daily, 3)])
        storage.add_counters([CounterIncrement(daily, 2, at(3600))])
        storage.add_counters([])
        keys = ["stats:failed", daily]
        assert storage.get_counters(keys) == {"stats:failed": 5, daily: 6}
        storage.delete_expired(at(1800), 100)
        assert storage.get_counters(keys) == {"stats:failed": 5, daily: 6}
        storage.delete_expired(at(7200), 100)
        assert storage.get_counters(keys) == {"stats:failed": 5, daily: 0}

    def test_final_state_expires_and_the_job_is_deleted(self, storage: Storage) -> None:
        clock = FakeClock(at(0))
        expiring, lasting, failed = create(storage), create(storage), create(storage)
        storage.append_log(expiring, LogLine(clock.now(), "written before it expired"))
        assert change(storage, expiring, Succeeded(), at(1), expire_at=at(100))
        assert change(storage, lasting, Deleted(), at(1), expire_at=at(10_000))
        assert change(storage, failed, BOOM, at(1))
        expire_at = details(storage, expiring).job.expire_at
        assert expire_at is not None
        assert ms(expire_at) == at(100)
        assert storage.delete_expired(clock.advance(99), 100) == 0
        assert details(storage, expiring).job.state.name == "Succeeded"
        assert storage.delete_expired(clock.advance(2), 100) == 1
        assert storage.job_details(expiring) is None
        assert storage.job_states([expiring]) == {}
        counts = storage.count_by_state()
        assert (counts["Succeeded"], counts["Deleted"], counts["Failed"]) == (0, 1, 1)
        assert storage.list_jobs("Succeeded") == []
        assert [job.id for job in storage.list_jobs("Deleted")] == [lasting]

    def test_delete_expired_respects_the_limit(self, storage: Storage) -> None:
        ids = [create(storage) for _ in range(3)]
        for job_id in ids:
            assert change(storage, job_id, Deleted(), at(1), expire_at=at(10))
        assert storage.delete_expired(at(20), 2) == 2
        assert storage.delete_expired(at(20), 2) == 1
        assert storage.delete_expired(at(20), 2) == 0
        assert storage.count_by_state()["Deleted"] == 0

    def test_a_later_non_final_state_clears_the_expiry(self, storage: Storage) -> None:
        job_id = create(storage)
        assert change(storage, job_id, Succeeded(), at(1), expire_at=at(100))
        assert change(storage, job_id, Enqueued(reason="requeued"), at(2), queue="default")
        assert details(storage, job_id).job.expire_at is None
        assert storage.delete_expired(at(1000), 100) == 0
        assert fetch_id(storage, ["default"], at(1001)) == job_id
        assert history_names(storage, job_id) == ["Enqueued", "Succeeded", "Enqueued", "Processing"]
