"""Contract tests for claiming jobs: `fetch_next` order, exclusivity, and `wait_for_jobs`."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from stoker.core.protocols import Storage
from stoker.core.states import Enqueued, Failed
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    ContractSupport,
    at,
    change,
    create,
    details,
    drain,
    fetch_id,
    make_job,
    ms,
)


class FetchContract(ContractSupport):
    """`fetch_next`: which job is claimed, and what claiming it records."""

    def test_fetch_is_fifo_within_a_queue(self, storage: Storage) -> None:
        ids = [create(storage, created_at=at(n)) for n in (1, 2, 3)]
        assert drain(storage, ["default"], at(10)) == ids

    def test_fetch_follows_queue_priority_order(self, storage: Storage) -> None:
        older_default = create(storage, "default", created_at=at(1))
        newer_critical = create(storage, "critical", created_at=at(2))
        assert fetch_id(storage, ["critical", "default"], at(10)) == newer_critical
        assert fetch_id(storage, ["critical", "default"], at(10)) == older_default
        assert fetch_id(storage, ["critical", "default"], at(10)) is None

    def test_fetch_returns_none_when_the_queues_are_empty(self, storage: Storage) -> None:
        assert fetch_id(storage, ["default"]) is None
        create(storage, "other")
        assert fetch_id(storage, ["default", "mail"]) is None

    def test_fetched_job_is_processing_on_the_worker(self, storage: Storage) -> None:
        new = make_job("mail", args=[7], kwargs={"to": "a@b.c"}, params={"p": 1}, created_at=at(1))
        (job_id,) = storage.create_jobs([new])
        enqueued_state_id = storage.job_states([job_id])[job_id][1]
        fetched = storage.fetch_next(["mail"], SERVER, WORKER, at(5))
        assert fetched is not None
        assert (fetched.id, fetched.function, fetched.args, fetched.kwargs, fetched.queue) == (
            job_id,
            new.function,
            new.args,
            new.kwargs,
            "mail",
        )
        assert dict(fetched.params) == {"p": 1}
        assert ms(fetched.created_at) == at(1)
        assert fetched.state_id != enqueued_state_id
        assert storage.job_states([job_id]) == {job_id: ("Processing", fetched.state_id)}
        found = details(storage, job_id)
        assert [entry.name for entry in found.history] == ["Enqueued", "Processing"]
        assert dict(found.history[-1].data) == {"server_id": SERVER, "worker_id": WORKER}
        assert ms(found.history[-1].created_at) == at(5)
        assert storage.queue_lengths().get("mail", 0) == 0

    def test_a_job_is_fetched_only_once(self, storage: Storage) -> None:
        first = create(storage, created_at=at(1))
        second = create(storage, created_at=at(2))
        claimed = [fetch_id(storage, ["default"], at(5)) for _ in range(3)]
        assert claimed == [first, second, None]

    def test_scheduled_and_awaiting_jobs_are_never_fetched(self, storage: Storage) -> None:
        parent = create(storage, state="Scheduled", run_at=at(1))
        create(storage, state="Awaiting", parent_id=parent)
        assert fetch_id(storage, ["default"], at(3600)) is None
        assert storage.count_by_state()["Processing"] == 0

    def test_enqueued_at_is_when_the_job_entered_enqueued(self, storage: Storage) -> None:
        created = create(storage, created_at=at(1))
        scheduled = create(storage, state="Scheduled", created_at=at(2), run_at=at(60))
        failed = create(storage, created_at=at(3))
        assert fetch_id(storage, ["default"], at(4)) == created
        assert fetch_id(storage, ["default"], at(4)) == failed
        assert change(storage, failed, Failed(exception_type="E", message="m"), at(5))
        assert storage.enqueue_due_scheduled(at(90), 10) == 1
        assert change(storage, failed, Enqueued(), at(120), queue="default")
        claimed = [storage.fetch_next(["default"], SERVER, WORKER, at(200)) for _ in range(2)]
        by_id = {job.id: job for job in claimed if job is not None}
        assert ms(by_id[scheduled].enqueued_at) == at(90)
        assert ms(by_id[scheduled].created_at) == at(2)
        assert ms(by_id[failed].enqueued_at) == at(120)

    def test_created_job_was_enqueued_when_created(self, storage: Storage) -> None:
        create(storage, created_at=at(7))
        fetched = storage.fetch_next(["default"], SERVER, WORKER, at(9))
        assert fetched is not None
        assert ms(fetched.enqueued_at) == at(7)

    def test_concurrent_fetches_claim_each_job_exactly_once(self, storage: Storage) -> None:
        ids = storage.create_jobs([make_job(args=[n]) for n in range(200)])

        def worker(number: int) -> list[str]:
            claimed: list[str] = []
            while (job := storage.fetch_next(["default"], SERVER, f"w{number}", at(1))) is not None:
                claimed.append(job.id)
            return claimed

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = [future.result() for future in [pool.submit(worker, n) for n in range(4)]]
        counts = Counter(job_id for claimed in results for job_id in claimed)
        assert set(counts) == set(ids)
        assert max(counts.values()) == 1
        assert fetch_id(storage, ["default"]) is None
        assert storage.count_by_state()["Processing"] == 200


class WaitForJobsContract(ContractSupport):
    """`wait_for_jobs`: a bounded wait that a new job cuts short. Real time, loose bounds."""

    def test_wait_returns_after_the_timeout_when_nothing_happens(self, storage: Storage) -> None:
        started = time.monotonic()
        storage.wait_for_jobs(["default"], 0.2)
        assert time.monotonic() - started < 3.0

    def test_wait_wakes_up_when_another_thread_creates_a_job(self, storage: Storage) -> None:
        woke_after: list[float] = []

        def waiter() -> None:
            started = time.monotonic()
            storage.wait_for_jobs(["default"], 5.0)
            woke_after.append(time.monotonic() - started)

        thread = threading.Thread(target=waiter)
        thread.start()
        # Keep creating until the waiter returns: the first job may land before it blocks, and
        # "may have been enqueued" only promises a wake-up for jobs created while it waits.
        deadline = time.monotonic() + 6.0
        while thread.is_alive() and time.monotonic() < deadline:
            create(storage)
            thread.join(0.05)
        thread.join()
        assert woke_after
        assert woke_after[0] < 3.0
