"""Batched worker steps (PostgreSQL, Redis) write exactly what the same steps one by one write."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from stoker.core.records import CounterIncrement, FetchedJob, StateChange
from stoker.core.states import STATE_NAMES, Deleted, Failed, Succeeded
from stoker.storage import open_storage
from stoker.storage.common.combining import Combiner
from stoker.storage.common.worker_steps import Step, StepResult
from stoker.storage.postgres import PostgresStorage
from stoker.storage.redis import RedisStorage
from stoker.testing.contract_support import SERVER, at, change, create, details, outcome
from tests.conftest import PG_URL, REDIS_URL, require_service

QUEUES = ("critical", "default")


Batching = PostgresStorage | RedisStorage


def _postgres_twins() -> Iterator[tuple[Batching, Batching]]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schemas = [f"stoker_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    opened = [open_storage(f"{PG_URL}?schema={schema}") for schema in schemas]
    assert all(isinstance(storage, PostgresStorage) for storage in opened)
    yield opened[0], opened[1]  # type: ignore[misc]
    for storage in opened:
        storage.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _redis_twins() -> Iterator[tuple[Batching, Batching]]:
    require_service("Redis", "127.0.0.1", 6379)
    prefixes = [f"stoker-test-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    opened = [open_storage(f"{REDIS_URL}?prefix={prefix}") for prefix in prefixes]
    assert all(isinstance(storage, RedisStorage) for storage in opened)
    yield opened[0], opened[1]  # type: ignore[misc]
    for storage in opened:
        storage.close()
    client = redis.Redis.from_url(REDIS_URL)
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()


@pytest.fixture(params=["postgres", "redis"])
def twins(request: pytest.FixtureRequest) -> Iterator[tuple[Batching, Batching]]:
    """Two empty storages of one kind: one runs steps batched, the other one by one."""
    yield from _postgres_twins() if request.param == "postgres" else _redis_twins()


def _claim(storage: Batching, worker: str) -> FetchedJob:
    fetched = storage.fetch_next(list(QUEUES), SERVER, worker, at(5))
    assert fetched is not None
    return fetched


def _steps(storage: Batching) -> list[Step]:
    """Eight workers at once: outcomes that apply, outcomes that are refused, idle workers."""
    parent = create(storage, created_at=at(1), params={"owner": "ops"})
    failing = create(storage, created_at=at(2))
    stale = create(storage, created_at=at(3))
    cancelled = create(storage, created_at=at(4))
    released = create(storage, "default", state="Awaiting", parent_id=parent, created_at=at(4.1))
    dropped = create(
        storage, state="Awaiting", parent_id=parent, on_states=("Failed",), created_at=at(4.2)
    )
    retried_child = create(
        storage, state="Awaiting", parent_id=failing, on_states=("Failed",), created_at=at(4.3)
    )
    jobs = [_claim(storage, f"worker-{n}") for n in range(4)]
    assert [job.id for job in jobs] == [parent, failing, stale, cancelled]
    for offset, queue in enumerate(["default", "critical", "default"]):
        create(storage, queue, created_at=at(4.5 + offset / 10))
    assert change(storage, cancelled, Deleted(), at(5.5), expected_states=("Processing",))
    succeeded = Succeeded(result={"n": 1}, latency_ms=1.0, duration_ms=2.0)
    failed = Failed(exception_type="ValueError", message="bad", reason="ValueError: bad")
    day = CounterIncrement("stats:succeeded:2036-03-01", 1, at(86_400))
    stale_change = outcome(jobs[2], succeeded, 6.2)
    outcomes = [
        outcome(jobs[0], succeeded, 6, counters=(CounterIncrement("stats:succeeded"), day),
                 release_continuations=True, params={"done": True}, expire_at=at(3600)),
        outcome(jobs[1], failed, 6.1, counters=(CounterIncrement("stats:failed"),),
                 release_continuations=True, params={"retries": 1}),
        StateChange(stale, stale_change.state, ("Processing",), jobs[2].state_id + 1000),
        outcome(jobs[3], succeeded, 6.3, counters=(CounterIncrement("stats:succeeded"),)),
    ]  # fmt: skip
    steps = [Step(f"worker-{n}", at(6 + n / 10), outcome) for n, outcome in enumerate(outcomes)]
    del released, dropped, retried_child  # found again through the parents' details
    return steps + [Step(f"worker-{n}", at(7)) for n in range(4, 8)]


def _everything(storage: Batching) -> dict[str, Any]:
    """What a user could observe: every job's full history, the counts and the counters."""
    jobs = {}
    for number in range(1, 11):
        found = details(storage, str(number))
        jobs[number] = (
            found.job.state,
            found.job.params,
            found.job.expire_at,
            found.history,
        )
    return {
        "jobs": jobs,
        "counts": {state: storage.count_jobs(state) for state in STATE_NAMES},
        "queues": storage.queue_lengths(),
        "processing": storage.processing_counts(),
        "counters": storage.get_counters(
            ["stats:succeeded", "stats:failed", "stats:succeeded:2036-03-01"]
        ),
    }


def _claimed_ids(results: list[StepResult]) -> list[tuple[bool, str | None]]:
    return [(applied, job.id if job else None) for applied, job in results]


def test_a_batch_writes_what_the_same_steps_one_by_one_write(
    twins: tuple[Batching, Batching],
) -> None:
    batched, single = twins
    batch_steps, single_steps = _steps(batched), _steps(single)
    batch_results = batched._run_steps(QUEUES, SERVER, batch_steps)
    single_results = [single._run_steps(QUEUES, SERVER, [step])[0] for step in single_steps]
    assert _claimed_ids(batch_results) == _claimed_ids(single_results)
    assert [applied for applied, _ in batch_results] == [True, True, False, False] + [False] * 4
    claimed = [job for _, job in batch_results if job is not None]
    # Three jobs were waiting, and the outcomes released two continuations (the same
    # transaction sees them): five claims, the last three workers get none.
    assert len(claimed) == 5
    assert _everything(batched) == _everything(single)


def test_a_batch_hands_each_worker_its_own_claim(
    twins: tuple[Batching, Batching],
) -> None:
    storage, _ = twins
    steps = _steps(storage)
    results = storage._run_steps(QUEUES, SERVER, steps)
    for step, (_, job) in zip(steps, results, strict=True):
        if job is None:
            continue
        processing = details(storage, job.id).job.state
        assert processing.data == {"server_id": SERVER, "worker_id": step.worker_id}
        assert processing.created_at == step.now
        assert storage.job_states([job.id])[job.id] == ("Processing", job.state_id)


def test_concurrent_workers_share_batches_and_each_job_runs_once(
    twins: tuple[Batching, Batching],
) -> None:
    storage, _ = twins
    storage.create_jobs([_new_job(n) for n in range(300)])
    sizes: list[int] = []
    run_steps = storage._run_steps

    def counting(queues: tuple[str, ...], server_id: str, steps: Any) -> list[StepResult]:
        sizes.append(len(steps))
        return run_steps(queues, server_id, steps)

    storage._combiners[(QUEUES, SERVER)] = Combiner(lambda steps: counting(QUEUES, SERVER, steps))
    ran: list[str] = []
    lock = threading.Lock()
    workers = [threading.Thread(target=_work, args=(storage, n, ran, lock)) for n in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(ran, key=int) == [str(n) for n in range(1, 301)]
    assert storage.count_jobs("Succeeded") == 300
    assert storage.count_jobs("Processing") == storage.count_jobs("Enqueued") == 0
    assert max(sizes) > 1  # the point of it: workers arriving together went together


def _new_job(number: int) -> Any:
    from stoker.testing.contract_support import make_job

    return make_job("default", args=[number], created_at=at(number / 1000))


def _work(storage: Batching, number: int, ran: list[str], lock: threading.Lock) -> None:
    worker = f"worker-{number}"
    job = storage.fetch_next(list(QUEUES), SERVER, worker, at(10))
    while job is not None:
        with lock:
            ran.append(job.id)
        done = outcome(job, Succeeded(result=None, latency_ms=0, duration_ms=0), 11)
        applied, job = storage.finish_and_fetch(done, list(QUEUES), SERVER, worker, at(11))
        assert applied


def test_outcomes_without_queues_are_batched_and_claim_nothing(
    twins: tuple[Batching, Batching],
) -> None:
    # The outcomes of async jobs, stored by finisher threads: one batch, no claims, and the
    # same writes as the outcomes one by one.
    batched, single = twins
    outcomes = [step for step in _steps(batched) if step.change is not None]
    together = _claimed_ids(batched._run_steps((), SERVER, outcomes))
    alone = [
        _claimed_ids(single._run_steps((), SERVER, [step]))[0]
        for step in _steps(single)
        if step.change is not None
    ]
    assert together == alone == [(True, None), (True, None), (False, None), (False, None)]
    assert _everything(batched) == _everything(single)
    assert sum(batched.queue_lengths().values()) == 5  # the queued jobs were not claimed
