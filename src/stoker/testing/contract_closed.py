"""Contract tests for a closed storage: every call refused with StorageClosedError."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stoker.core.errors import StorageClosedError, StorageError
from stoker.core.protocols import Storage
from stoker.core.records import CounterIncrement, LogLine, StateChange
from stoker.core.states import Succeeded
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    ContractSupport,
    at,
    create,
    make_job,
    make_recurring,
    make_server,
)


def _done(job_id: str) -> StateChange:
    return StateChange(job_id, Succeeded().to_record(at(2)), counters=(CounterIncrement("x"),))


# Each kind of call: writes, claims, the wait for jobs, upkeep, and the Monitor's reads. Each
# gets the id of a job created before close().
_CALLS: dict[str, Callable[[Storage, str], object]] = {
    "create_jobs": lambda storage, job_id: storage.create_jobs([make_job()]),
    "fetch_next": lambda storage, job_id: storage.fetch_next(["default"], SERVER, WORKER, at(1)),
    "finish_and_fetch": lambda storage, job_id: storage.finish_and_fetch(
        _done(job_id), ["default"], SERVER, WORKER, at(2)
    ),
    "change_state": lambda storage, job_id: storage.change_state(_done(job_id)),
    "wait_for_jobs": lambda storage, job_id: storage.wait_for_jobs(["default"], 0.5),
    "set_progress": lambda storage, job_id: storage.set_progress(job_id, 0.5),
    "add_counters": lambda storage, job_id: storage.add_counters([CounterIncrement("x")]),
    "append_log": lambda storage, job_id: storage.append_log(job_id, LogLine(at(1), "line")),
    "enqueue_due_scheduled": lambda storage, job_id: storage.enqueue_due_scheduled(at(90), 10),
    "delete_expired": lambda storage, job_id: storage.delete_expired(at(90), 10),
    "save_recurring": lambda storage, job_id: storage.save_recurring(make_recurring()),
    "due_recurring": lambda storage, job_id: storage.due_recurring(at(90), 10),
    "announce_server": lambda storage, job_id: storage.announce_server(make_server()),
    "heartbeat": lambda storage, job_id: storage.heartbeat(SERVER, at(1)),
    "requeue_orphaned_jobs": lambda storage, job_id: storage.requeue_orphaned_jobs(at(1), 10),
    "acquire_lock": lambda storage, job_id: storage.acquire_lock("lock", "me", 30.0, at(1)),
    "count_by_state": lambda storage, job_id: storage.count_by_state(),
    "list_jobs": lambda storage, job_id: storage.list_jobs("Enqueued"),
    "job_details": lambda storage, job_id: storage.job_details(job_id),
    "job_states": lambda storage, job_id: storage.job_states([job_id]),
    "list_servers": lambda storage, job_id: storage.list_servers(),
    "queue_lengths": lambda storage, job_id: storage.queue_lengths(),
    "list_recurring": lambda storage, job_id: storage.list_recurring(),
    "get_counters": lambda storage, job_id: storage.get_counters(["x"]),
}


class ClosedStorageContract(ContractSupport):
    """`close()` may be called again; every other call after it raises StorageClosedError
    (the same class, `stoker.errors.StorageClosedError`, on every storage), at once."""

    def test_closing_twice_is_harmless(self, storage: Storage) -> None:
        create(storage)
        storage.close()
        storage.close()

    @pytest.mark.parametrize("call", list(_CALLS))
    def test_every_call_after_close_raises_storage_closed_error(
        self, storage: Storage, call: str
    ) -> None:
        job_id = create(storage)
        storage.close()
        with pytest.raises(StorageClosedError) as raised:
            _CALLS[call](storage, job_id)
        assert isinstance(raised.value, StorageError)
        assert "closed" in str(raised.value)
