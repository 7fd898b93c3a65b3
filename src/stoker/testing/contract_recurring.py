"""Contract tests for recurring job definitions and the exactly-once `fire_recurring` step."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

from stoker.core.protocols import Storage
from stoker.core.records import RecurringRecord
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    details,
    make_job,
    make_recurring,
    ms,
)


def _get(storage: Storage, recurring_id: str) -> RecurringRecord:
    found = storage.get_recurring(recurring_id)
    assert found is not None, f"recurring job {recurring_id} should exist"
    return found


def _fire(
    storage: Storage, expected: float, following: float | None, jobs: int = 1
) -> list[str] | None:
    """Fire `nightly` as a scheduler would, at `expected` seconds, moving next_run on."""
    new_jobs = [make_job(function="app.recurring:nightly", created_at=at(expected))] * jobs
    next_run = None if following is None else at(following)
    return storage.fire_recurring("nightly", at(expected), next_run, new_jobs, at(expected))


class RecurringContract(ContractSupport):
    """Saving, listing, pausing and removing recurring job definitions."""

    def test_save_and_get_round_trip(self, storage: Storage) -> None:
        record = make_recurring("nightly", next_run=at(60), params={"tz": "x", "n": [1]})
        storage.save_recurring(record)
        assert_same(_get(storage, "nightly"), record)
        assert storage.get_recurring("unknown") is None

    def test_list_is_ordered_by_id(self, storage: Storage) -> None:
        for recurring_id in ("b-report", "a-backup", "c-cleanup"):
            storage.save_recurring(make_recurring(recurring_id))
        assert [r.id for r in storage.list_recurring()] == ["a-backup", "b-report", "c-cleanup"]

    def test_remove_is_true_once_then_false(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly"))
        assert storage.remove_recurring("nightly") is True
        assert storage.remove_recurring("nightly") is False
        assert storage.get_recurring("nightly") is None
        assert storage.list_recurring() == []

    def test_update_keeps_last_run_and_last_job(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        fired = _fire(storage, 60, 120)
        assert fired is not None
        updated = dataclasses.replace(
            make_recurring("nightly", next_run=at(3600)), cron="0 * * * *", queue="reports"
        )
        storage.save_recurring(updated)
        found = _get(storage, "nightly")
        assert (found.cron, found.queue) == ("0 * * * *", "reports")
        assert found.next_run is not None
        assert ms(found.next_run) == at(3600)
        assert found.last_run is not None
        assert ms(found.last_run) == at(60)
        assert found.last_job_id == fired[0]

    def test_due_recurring_returns_unpaused_jobs_whose_time_came(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("early", next_run=at(10)))
        storage.save_recurring(make_recurring("on-time", next_run=at(20)))
        storage.save_recurring(make_recurring("later", next_run=at(21)))
        storage.save_recurring(make_recurring("paused", paused=True))
        assert sorted(r.id for r in storage.due_recurring(at(20), 10)) == ["early", "on-time"]
        assert len(storage.due_recurring(at(20), 1)) == 1
        assert storage.due_recurring(at(5), 10) == []

    def test_pause_and_resume(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        assert storage.set_recurring_paused("nightly", True, None) is True
        paused = _get(storage, "nightly")
        assert (paused.paused, paused.next_run) == (True, None)
        assert storage.due_recurring(at(100_000), 10) == []
        assert storage.set_recurring_paused("nightly", False, at(300)) is True
        resumed = _get(storage, "nightly")
        assert resumed.paused is False
        assert storage.due_recurring(at(299), 10) == []
        assert [r.id for r in storage.due_recurring(at(300), 10)] == ["nightly"]
        assert storage.set_recurring_paused("unknown", True, None) is False

    def test_scheduling_errors_are_recorded_and_cleared(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly"))
        storage.record_recurring_error("nightly", "cannot import app.recurring:nightly")
        assert _get(storage, "nightly").error == "cannot import app.recurring:nightly"
        storage.record_recurring_error("nightly", None)
        assert _get(storage, "nightly").error is None


class FireRecurringContract(ContractSupport):
    """`fire_recurring`: one occurrence creates its jobs exactly once."""

    def test_fire_creates_the_jobs_and_moves_next_run(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        fired = _fire(storage, 60, 120)
        assert fired is not None
        assert len(fired) == 1
        assert details(storage, fired[0]).job.function == "app.recurring:nightly"
        assert [job.id for job in storage.list_jobs("Enqueued")] == fired
        found = _get(storage, "nightly")
        assert found.next_run is not None
        assert found.last_run is not None
        assert (ms(found.next_run), ms(found.last_run)) == (at(120), at(60))
        assert found.last_job_id == fired[0]
        assert storage.due_recurring(at(119), 10) == []

    def test_a_stale_fire_creates_nothing(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        assert _fire(storage, 60, 120) is not None
        before = storage.count_by_state()
        assert _fire(storage, 60, 120) is None
        assert storage.count_by_state() == before
        found = _get(storage, "nightly")
        assert found.next_run is not None
        assert ms(found.next_run) == at(120)

    def test_concurrent_fires_have_exactly_one_winner(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        start = threading.Barrier(6)

        def scheduler() -> list[str] | None:
            start.wait()
            return _fire(storage, 60, 120)

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = [f.result() for f in [pool.submit(scheduler) for _ in range(6)]]
        winners = [result for result in results if result is not None]
        assert len(winners) == 1
        assert storage.count_by_state()["Enqueued"] == 1

    def test_fire_without_jobs_only_advances_next_run(self, storage: Storage) -> None:
        storage.save_recurring(make_recurring("nightly", next_run=at(60)))
        assert _fire(storage, 60, 120, jobs=0) == []
        found = _get(storage, "nightly")
        assert found.next_run is not None
        assert ms(found.next_run) == at(120)
        assert (found.last_run, found.last_job_id) == (None, None)
        assert sum(storage.count_by_state().values()) == 0
