"""Contract tests for creating jobs and reading them back: ids, details, counts, progress, logs."""

from __future__ import annotations

import pytest

from stoker.core import codec
from stoker.core.errors import JobNotFoundError
from stoker.core.protocols import Storage
from stoker.core.records import LogLine, StateChange, StateRecord
from stoker.core.states import STATE_NAMES, Deleted, Succeeded
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    change,
    create,
    details,
    fetch_id,
    make_job,
    ms,
)


class CreateJobsContract(ContractSupport):
    """`create_jobs` and what the monitor shows of a newly created job."""

    def test_create_returns_distinct_string_ids_in_order(self, storage: Storage) -> None:
        jobs = [make_job(function=f"app.tasks:job_{name}") for name in ("a", "b", "c")]
        ids = storage.create_jobs(jobs)
        assert len(ids) == 3
        assert len(set(ids)) == 3
        assert all(isinstance(job_id, str) and job_id for job_id in ids)
        assert [details(storage, job_id).job.function for job_id in ids] == [
            "app.tasks:job_a",
            "app.tasks:job_b",
            "app.tasks:job_c",
        ]

    def test_create_bulk_of_500_in_one_call(self, storage: Storage) -> None:
        ids = storage.create_jobs([make_job(args=[n]) for n in range(500)])
        assert len(set(ids)) == 500
        assert storage.count_by_state()["Enqueued"] == 500
        assert storage.queue_lengths()["default"] == 500

    def test_job_details_round_trip_the_new_job(self, storage: Storage) -> None:
        new = make_job(
            "mail",
            function="app.mail:send_welcome",
            args=[42, "zoë", {"nested": [1.5, None, True]}, ("t", 1)],
            kwargs={"when": at(5), "amount": 3},
            params={"retry": 0, "trace": {"id": "abc", "tags": ["x", "y"]}},
            created_at=at(0.123),
        )
        (job_id,) = storage.create_jobs([new])
        found = details(storage, job_id)
        job = found.job
        assert job.id == job_id
        assert (job.function, job.args, job.kwargs, job.queue) == (
            new.function,
            new.args,
            new.kwargs,
            new.queue,
        )
        assert dict(job.params) == {"retry": 0, "trace": {"id": "abc", "tags": ["x", "y"]}}
        assert ms(job.created_at) == at(0.123)
        assert_same(job.state, new.state)
        assert isinstance(job.state_id, int)
        assert (job.expire_at, job.parent_id, job.progress) == (None, None, None)
        assert_same(found.history, (new.state,))
        assert (found.logs, found.continuations) == ((), ())
        assert codec.loads(job.args)[3] == ("t", 1)

    def test_job_details_of_unknown_job_is_none(self, storage: Storage) -> None:
        create(storage)
        assert storage.job_details("no-such-job") is None

    def test_count_by_state_always_names_every_state(self, storage: Storage) -> None:
        assert storage.count_by_state() == dict.fromkeys(STATE_NAMES, 0)
        parent = create(storage, state="Scheduled")
        create(storage)
        create(storage)
        create(storage, state="Awaiting", parent_id=parent)
        expected = dict.fromkeys(STATE_NAMES, 0) | {"Enqueued": 2, "Scheduled": 1, "Awaiting": 1}
        assert storage.count_by_state() == expected

    def test_created_jobs_are_listed_in_their_state(self, storage: Storage) -> None:
        enqueued = create(storage)
        scheduled = create(storage, state="Scheduled")
        assert [job.id for job in storage.list_jobs("Enqueued")] == [enqueued]
        assert [job.id for job in storage.list_jobs("Scheduled")] == [scheduled]
        assert storage.list_jobs("Awaiting") == []

    def test_awaiting_child_of_unfinished_parent_stays_awaiting(self, storage: Storage) -> None:
        parent = create(storage)
        child = create(storage, "children", state="Awaiting", parent_id=parent)
        found = details(storage, child)
        assert found.job.state.name == "Awaiting"
        assert found.job.parent_id == parent
        assert fetch_id(storage, ["children"]) is None
        assert details(storage, parent).continuations == (child,)

    def test_child_of_succeeded_parent_is_created_enqueued(self, storage: Storage) -> None:
        parent = create(storage)
        assert change(storage, parent, Succeeded(result=1), at(10))
        child = create(storage, "children", state="Awaiting", parent_id=parent, created_at=at(20))
        found = details(storage, child)
        assert found.job.state.name == "Enqueued"
        assert found.history[-1].name == "Enqueued"
        assert found.job.queue == "children"
        assert fetch_id(storage, ["children"], at(30)) == child

    def test_child_of_deleted_parent_is_created_deleted(self, storage: Storage) -> None:
        parent = create(storage)
        assert change(storage, parent, Deleted(), at(10), expire_at=at(1000))
        child = create(
            storage,
            "children",
            state="Awaiting",
            parent_id=parent,
            on_states=("Succeeded",),
            deleted_expire_at=at(500),
            created_at=at(20),
        )
        found = details(storage, child)
        assert found.job.state.name == "Deleted"
        assert found.job.expire_at is not None
        assert ms(found.job.expire_at) == at(500)
        assert fetch_id(storage, ["children"], at(30)) is None

    def test_child_of_unknown_parent_raises_and_stores_nothing(self, storage: Storage) -> None:
        create(storage)
        before = storage.count_by_state()
        bulk = [
            make_job("other"),
            make_job("other", state="Awaiting", parent_id="no-such-parent"),
            make_job("other"),
        ]
        with pytest.raises(JobNotFoundError):
            storage.create_jobs(bulk)
        assert storage.count_by_state() == before
        assert storage.count_jobs("Enqueued", queue="other") == 0
        assert fetch_id(storage, ["other"]) is None


class JobExtrasContract(ContractSupport):
    """Progress, log lines and `job_states`."""

    def test_progress_and_log_lines_show_in_details(self, storage: Storage) -> None:
        job_id = create(storage)
        assert fetch_id(storage, ["default"]) == job_id
        storage.set_progress(job_id, 0.25)
        storage.append_log(job_id, LogLine(at(1), "first line"))
        storage.append_log(job_id, LogLine(at(2), "second line, ünïcode"))
        storage.set_progress(job_id, 0.5)
        found = details(storage, job_id)
        assert found.job.progress == 0.5
        assert_same(
            found.logs, (LogLine(at(1), "first line"), LogLine(at(2), "second line, ünïcode"))
        )

    def test_job_states_reports_known_jobs_only(self, storage: Storage) -> None:
        first = create(storage)
        second = create(storage, state="Scheduled")
        states = storage.job_states([first, "no-such-job", second])
        assert set(states) == {first, second}
        assert states[first] == ("Enqueued", details(storage, first).job.state_id)
        assert states[second] == ("Scheduled", details(storage, second).job.state_id)
        assert storage.job_states([]) == {}

    def test_job_details_state_is_the_last_history_entry(self, storage: Storage) -> None:
        job_id = create(storage)
        record = StateRecord("Deleted", at(3), "removed by test", {})
        assert storage.change_state(StateChange(job_id, record))
        found = details(storage, job_id)
        assert_same(found.job.state, found.history[-1])
        assert_same(found.history[-1], record)
