"""PostgreSQL-specific behaviour: SKIP LOCKED contention, migrations, NOTIFY, schema isolation."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from stoker.core.records import NewJob, StateChange, StateRecord
from stoker.errors import ForeignDatabaseError, SchemaTooNewError, StorageError, StorageURLError
from stoker.storage import open_storage
from stoker.storage.postgres.batch_sql import BATCH_QUERIES
from stoker.storage.postgres.batches_sql import BATCHES_QUERIES
from stoker.storage.postgres.db import parse_job_id
from stoker.storage.postgres.limits import LIMIT_QUERIES
from stoker.storage.postgres.monitor import COLUMN_FRAGMENTS, MONITOR_QUERIES
from stoker.storage.postgres.schema import LATEST_VERSION, MIGRATIONS
from stoker.storage.postgres.sql import WRITE_QUERIES, render, squeeze
from stoker.storage.postgres.storage import PostgresStorage, _split_url
from stoker.storage.postgres.upkeep_sql import UPKEEP_QUERIES

T0 = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


def new_job(queue: str = "default", state: str = "Enqueued", **extra: object) -> NewJob:
    data: dict[str, object] = {"queue": queue}
    if state == "Scheduled":
        data["enqueue_at"] = (T0 + timedelta(seconds=60)).isoformat()
    fields: dict[str, object] = {
        "function": "app.tasks:work",
        "args": "[1]",
        "kwargs": "{}",
        "queue": queue,
        "state": StateRecord(state, T0, None, data),
        "created_at": T0,
    }
    fields.update(extra)
    return NewJob(**fields)  # type: ignore[arg-type]


@pytest.fixture
def storage(postgres_url: str) -> Iterator[PostgresStorage]:
    opened = open_storage(postgres_url)
    assert isinstance(opened, PostgresStorage)
    yield opened
    opened.close()


def _schema_of(url: str) -> str:
    return url.rpartition("schema=")[2]


# --- SKIP LOCKED under contention ----------------------------------------------------------


def _claim_all(url: str, worker: str, start: Any) -> list[str]:
    """Runs in a child process: fetch until the queue is empty; the ids this process got."""
    storage = open_storage(url, migrate=False)
    start.wait(10)
    claimed: list[str] = []
    while (job := storage.fetch_next(["default"], "server", worker, T0)) is not None:
        claimed.append(job.id)
    storage.close()
    return claimed


def test_each_job_is_fetched_exactly_once_by_competing_processes(
    storage: PostgresStorage, postgres_url: str
) -> None:
    ids = storage.create_jobs([new_job(args=f"[{n}]") for n in range(400)])
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    start = manager.Event()
    with context.Pool(4) as pool:
        pending = [pool.apply_async(_claim_all, (postgres_url, f"w{n}", start)) for n in range(4)]
        time.sleep(0.5)  # let every child open its pool before the race starts
        start.set()
        results = [result.get(timeout=60) for result in pending]
    manager.shutdown()
    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed, key=int) == ids
    assert len(set(claimed)) == len(claimed)
    counts = storage.count_by_state()
    assert (counts["Enqueued"], counts["Processing"]) == (0, 400)


def test_fetch_skips_a_row_locked_by_another_transaction(storage: PostgresStorage) -> None:
    first, second = storage.create_jobs([new_job(), new_job()])
    with psycopg.connect(storage._db.conninfo) as conn:
        table = f'"{storage.schema}".job'
        conn.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", (int(first),))  # noqa: S608
        fetched = storage.fetch_next(["default"], "s", "w", T0)
        assert fetched is not None
        assert fetched.id == second
        assert storage.fetch_next(["default"], "s", "w", T0) is None
        conn.rollback()
    again = storage.fetch_next(["default"], "s", "w", T0)
    assert again is not None
    assert again.id == first


# --- migrations ----------------------------------------------------------------------------


def test_concurrent_migrations_of_a_fresh_schema_apply_each_version_once(
    postgres_url: str,
) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []
    opened: list[PostgresStorage] = []

    def start() -> None:
        try:
            barrier.wait(5)
            opened.append(PostgresStorage.from_url(postgres_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(opened) == 6
    schema = _schema_of(postgres_url)
    with psycopg.connect(opened[0]._db.conninfo) as conn:
        versions = conn.execute(
            f'SELECT version FROM "{schema}".schema_version ORDER BY version'  # noqa: S608
        ).fetchall()
    assert [row[0] for row in versions] == [version for version, _, _ in MIGRATIONS]
    assert opened[0].migrate() == 0  # already current: nothing to do
    ids = opened[1].create_jobs([new_job()])
    assert opened[2].job_states(ids)[ids[0]][0] == "Enqueued"
    for storage in opened:
        storage.close()


def test_migrate_false_leaves_a_fresh_schema_alone(postgres_url: str) -> None:
    storage = PostgresStorage.from_url(postgres_url, migrate=False)
    try:
        with psycopg.connect(storage._db.conninfo) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                (_schema_of(postgres_url),),
            ).fetchone()
        assert row == (0,)
        assert storage.migrate() == LATEST_VERSION
    finally:
        storage.close()


def _contents(conninfo: str, schema: str) -> list[tuple[Any, ...]]:
    """Every table of the schema with its rows, to compare before and after a refused open."""
    found: list[tuple[Any, ...]] = []
    with psycopg.connect(conninfo) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}.{} ORDER BY 1").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            found.append((table, [tuple(map(str, row)) for row in conn.execute(query)]))
    return found


def test_a_schema_migrated_by_a_newer_stoker_is_refused_and_left_untouched(
    postgres_url: str,
) -> None:
    storage = PostgresStorage.from_url(postgres_url)
    conninfo, schema = storage._db.conninfo, storage.schema
    job_id = storage.create_jobs([new_job()])[0]
    storage.close()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.schema_version (version, description) VALUES (%s, 'future')"
            ).format(sql.Identifier(schema)),
            (LATEST_VERSION + 1,),
        )
    before = _contents(conninfo, schema)
    with pytest.raises(SchemaTooNewError, match="upgrade stoker") as raised:
        PostgresStorage.from_url(postgres_url)
    assert isinstance(raised.value, StorageError)
    assert isinstance(raised.value, RuntimeError)  # what this error was before it had a class
    unmigrated = PostgresStorage.from_url(postgres_url, migrate=False)
    try:
        with pytest.raises(SchemaTooNewError, match=f"version {LATEST_VERSION + 1}"):
            unmigrated.migrate()
    finally:
        unmigrated.close()
    after = _contents(conninfo, schema)
    assert after == before
    assert any(table == "job" and rows[0][0] == job_id for table, rows in after)


def test_a_schema_holding_another_applications_tables_is_refused(postgres_url: str) -> None:
    schema = _schema_of(postgres_url)
    unmigrated = PostgresStorage.from_url(postgres_url, migrate=False)
    conninfo = unmigrated._db.conninfo
    unmigrated.close()
    with psycopg.connect(conninfo) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".users (id integer PRIMARY KEY, name text)')
        conn.execute(f"INSERT INTO \"{schema}\".users VALUES (1, 'ada')")  # noqa: S608
    before = _contents(conninfo, schema)
    with pytest.raises(ForeignDatabaseError, match="users"):
        PostgresStorage.from_url(postgres_url)
    assert _contents(conninfo, schema) == before == [("users", [("1", "ada")])]


# --- LISTEN/NOTIFY -------------------------------------------------------------------------


def _waiter(storage: PostgresStorage, queues: list[str], timeout: float) -> list[float]:
    """Start a thread blocked in wait_for_jobs; the list receives its wait time when done."""
    spent: list[float] = []

    def run() -> None:
        began = time.monotonic()
        storage.wait_for_jobs(queues, timeout)
        spent.append(time.monotonic() - began)

    threading.Thread(target=run, daemon=True).start()
    return spent


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_enqueue_wakes_a_waiting_worker_promptly(storage: PostgresStorage) -> None:
    storage.wait_for_jobs(["mail"], 0)  # starts the listener
    assert storage._listener.connected.wait(10)
    spent = _waiter(storage, ["mail"], 30)
    time.sleep(0.1)  # the waiter is registered
    storage.create_jobs([new_job("mail")])
    _wait_for(lambda: spent)
    assert spent[0] < 5  # loose: woken by the notification, far before its 30 s timeout


def test_enqueue_on_another_queue_does_not_wake_a_waiter(storage: PostgresStorage) -> None:
    storage.wait_for_jobs(["mail"], 0)
    assert storage._listener.connected.wait(10)
    spent = _waiter(storage, ["mail"], 0.6)
    time.sleep(0.1)
    storage.create_jobs([new_job("reports")])
    _wait_for(lambda: spent)
    assert spent[0] >= 0.5


def test_every_path_into_enqueued_notifies_in_its_transaction(storage: PostgresStorage) -> None:
    channel = storage._listener._channel
    with psycopg.connect(storage._db.conninfo, autocommit=True) as listen:
        listen.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))

        def payloads() -> list[str]:
            return [n.payload for n in listen.notifies(timeout=0.3)]

        parent, _ = storage.create_jobs([new_job("a"), new_job("a")])
        assert payloads() == ["a 2"]
        storage.create_jobs([new_job("b", "Scheduled", run_at=T0 + timedelta(seconds=60))])
        assert payloads() == []
        assert storage.enqueue_due_scheduled(T0 + timedelta(seconds=61), 10) == 1
        assert payloads() == ["b 1"]
        awaiting = StateRecord("Awaiting", T0, None, {"parent_id": parent})
        storage.create_jobs(
            [new_job("c", state=awaiting.name, parent_id=parent, on_states=("Succeeded",))]
        )
        assert payloads() == []
        done = StateRecord("Succeeded", T0, None, {"result": None})
        assert storage.change_state(StateChange(parent, done, release_continuations=True))
        assert payloads() == ["c 1"]
        fetched = storage.fetch_next(["a"], "gone-server", "w", T0)
        assert fetched is not None
        assert storage.requeue_orphaned_jobs(T0, 10) == [fetched.id]
        assert payloads() == ["a 1"]


def test_waiters_fall_back_to_polling_without_a_listener(storage: PostgresStorage) -> None:
    storage._listener.close()  # as if the connection were gone for good
    began = time.monotonic()
    storage.wait_for_jobs(["default"], 0.2)
    assert 0.15 <= time.monotonic() - began < 5


# --- schema isolation and URLs ---------------------------------------------------------------


def test_two_schemas_in_one_database_never_see_each_other(postgres_url: str) -> None:
    other_url = postgres_url + "_other"
    first, second = open_storage(postgres_url), open_storage(other_url)
    try:
        (job_id,) = first.create_jobs([new_job()])
        assert second.count_by_state()["Enqueued"] == 0
        assert second.fetch_next(["default"], "s", "w", T0) is None
        assert second.job_details(job_id) is None
        fetched = first.fetch_next(["default"], "s", "w", T0)
        assert fetched is not None
        assert fetched.id == job_id
    finally:
        first.close()
        second.close()
        with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{_schema_of(other_url)}" CASCADE')


def test_url_schema_parameter_is_not_passed_to_libpq() -> None:
    conninfo, schema = _split_url("postgresql://u:secret@h:5433/db?schema=app1&sslmode=disable", {})
    assert (conninfo, schema) == ("postgresql://u:secret@h:5433/db?sslmode=disable", "app1")
    assert _split_url("postgres://h/db", {}) == ("postgresql://h/db", "stoker")
    assert _split_url("postgresql://h/db?schema=a", {"schema": "b"})[1] == "b"


def test_invalid_schema_name_is_rejected_without_leaking_the_password() -> None:
    with pytest.raises(StorageURLError) as info:
        _split_url("postgresql://u:secret@h/db?schema=bad-name;drop", {})
    assert "secret" not in str(info.value)
    assert "bad-name;drop" in str(info.value)


def test_job_ids_outside_bigint_are_unknown_not_errors(storage: PostgresStorage) -> None:
    assert [parse_job_id(text) for text in ("12", " 7 ", "0", "-1", "x", "1e3", "٣")] == [
        12, 7, None, None, None, None, None,
    ]  # fmt: skip
    huge = str(2**63)
    assert storage.job_details(huge) is None
    assert storage.job_states([huge, "abc"]) == {}
    done = StateRecord("Deleted", T0, None, {})
    assert storage.change_state(StateChange(huge, done)) is False


# --- continuations under concurrency, count shards ------------------------------------------


def _waiting_on_locks(conninfo: str, schema: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND position(%s in query) > 0",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_child_committed_while_its_parent_finishes_is_still_released(
    storage: PostgresStorage,
) -> None:
    # Forces the worst interleaving: the parent's finishing statement takes its snapshot, then
    # a child is committed, then the parent row lock is granted. The child must not be left
    # Awaiting forever.
    (parent,) = storage.create_jobs([new_job()])
    awaiting = StateRecord("Awaiting", T0, None, {"parent_id": parent})
    child_job = new_job("kids", "Awaiting", parent_id=parent, on_states=("Succeeded",))
    child_job = NewJob(**{**child_job.__dict__, "state": awaiting})
    children: list[str] = []
    finished: list[bool] = []
    done = StateRecord("Succeeded", T0, None, {"result": None})
    with psycopg.connect(storage._db.conninfo) as blocker:
        table = f'"{storage.schema}".job'
        blocker.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", (int(parent),))  # noqa: S608
        creator = threading.Thread(target=lambda: children.extend(storage.create_jobs([child_job])))
        creator.start()
        _wait_for(lambda: _waiting_on_locks(storage._db.conninfo, storage.schema) == 1)
        change = StateChange(parent, done, release_continuations=True)
        finisher = threading.Thread(target=lambda: finished.append(storage.change_state(change)))
        finisher.start()
        _wait_for(lambda: _waiting_on_locks(storage._db.conninfo, storage.schema) == 2)
        blocker.rollback()
    creator.join(10)
    finisher.join(10)
    assert finished == [True]
    details = storage.job_details(children[0])
    assert details is not None
    assert details.job.state.name == "Enqueued"
    assert storage.count_by_state()["Awaiting"] == 0


def test_count_shards_of_ended_connections_are_folded_without_changing_counts(
    postgres_url: str,
) -> None:
    first, second = open_storage(postgres_url), open_storage(postgres_url)
    assert isinstance(first, PostgresStorage)
    first.create_jobs([new_job() for _ in range(3)])
    second.create_jobs([new_job("mail") for _ in range(2)])
    second.close()  # its backends end; their shard rows stay until folded
    table = f'"{first.schema}".state_count'
    with psycopg.connect(first._db.conninfo, autocommit=True) as conn:

        def folded() -> bool:
            rows = conn.execute(
                f"SELECT DISTINCT shard = 0 OR shard IN (SELECT pid FROM pg_stat_activity) "  # noqa: S608
                f"FROM {table}"
            ).fetchall()
            return rows == [(True,)]

        def ended() -> bool:
            row = conn.execute(
                f"SELECT count(*) FROM {table} WHERE shard IN "  # noqa: S608
                "(SELECT pid FROM pg_stat_activity)"
            ).fetchone()
            return row == (1,)  # only `first`'s connection is still alive

        _wait_for(ended)
        assert not folded()  # the ended connection's shard is still there
        _wait_for(lambda: first.delete_expired(T0, 10) == 0 and folded(), 10)
        row = conn.execute(f"SELECT sum(n) FROM {table} WHERE shard = 0").fetchone()  # noqa: S608
        assert row == (2,)
    expected = {"Enqueued": 5}
    assert {k: v for k, v in first.count_by_state().items() if v} == expected
    assert first.queue_lengths() == {"default": 3, "mail": 2}
    first.close()


# --- bulk create -------------------------------------------------------------------------


def _bulk(arguments: list[str], **shared: object) -> list[NewJob]:
    """Jobs as `enqueue_many` builds them: one state record and one params mapping shared."""
    state = StateRecord("Enqueued", T0, "bulk", {"queue": "default"})
    params = {"owner": "ops"}
    fields: dict[str, object] = {
        "function": "app.tasks:work", "kwargs": "{}", "queue": "default", "state": state,
        "created_at": T0, "params": params, **shared,
    }  # fmt: skip
    return [NewJob(args=args, **fields) for args in arguments]  # type: ignore[arg-type]


def _stored(storage: PostgresStorage, job_id: str) -> tuple[object, ...]:
    found = storage.job_details(job_id)
    assert found is not None
    job = found.job
    return (job.function, job.args, job.kwargs, job.queue, job.params, job.created_at,
            job.state, job.expire_at, found.history)  # fmt: skip


@pytest.mark.parametrize("uniform", [True, False], ids=["same-but-arguments", "mixed"])
def test_a_bulk_create_stores_what_single_creates_store(
    storage: PostgresStorage, uniform: bool
) -> None:
    jobs = _bulk([f"[{n}]" for n in range(50)])
    if not uniform:  # one job on another queue: every column travels as an array
        jobs[7] = NewJob(**{**jobs[7].__dict__, "queue": "mail"})
    bulk_ids = storage.create_jobs(jobs)
    single_ids = [storage.create_jobs([job])[0] for job in jobs]
    assert len(bulk_ids) == len(set(bulk_ids)) == 50
    for bulk_id, single_id in zip(bulk_ids, single_ids, strict=True):
        assert _stored(storage, bulk_id) == _stored(storage, single_id)
    assert storage.count_jobs("Enqueued") == 100
    assert storage.queue_lengths() == ({"default": 100} if uniform else {"default": 98, "mail": 2})


# --- statement text ----------------------------------------------------------------------


def test_squeezing_whitespace_leaves_string_literals_alone() -> None:
    text = "SELECT  a || ' = ',\n   'x ( y'' z , ',\n  f( b )  FROM t WHERE c = '\n'"
    assert squeeze(text) == "SELECT a||' = ','x ( y'' z , ',f(b)FROM t WHERE c='\n'"


def test_every_statement_is_short_enough_for_psycopgs_query_cache() -> None:
    # psycopg re-parses the placeholders of a query of 4,096 characters or more on every call
    # (only CPU: a schema name much longer than 30 characters costs that on the batched change).
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    schema = "s" * 30
    storage_sql = render(
        {
            **WRITE_QUERIES,
            **BATCH_QUERIES,
            **UPKEEP_QUERIES,
            **MONITOR_QUERIES,
            **LIMIT_QUERIES,
            **BATCHES_QUERIES,
        },
        schema,
        f"stoker_jobs.{schema}",
        COLUMN_FRAGMENTS,
    )
    too_long = {name: len(text) for name, text in storage_sql.items()
                if len(text.encode()) >= MAX_CACHED_STATEMENT_LENGTH}  # fmt: skip
    assert not too_long


def test_a_schema_of_version_2_gains_keys_and_limits_and_keeps_its_jobs(
    postgres_url: str,
) -> None:
    from dataclasses import replace

    from stoker.testing.contract import at, make_job

    opened = open_storage(postgres_url)
    (old_job,) = opened.create_jobs([make_job()])
    opened.close()
    schema = _schema_of(postgres_url)
    with psycopg.connect(postgres_url.partition("?")[0], autocommit=True) as conn:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("DROP TRIGGER job_batch_count ON {}.job").format(s))  # version 5's
        conn.execute(sql.SQL("DROP FUNCTION {}.count_batch_move()").format(s))
        conn.execute(sql.SQL("ALTER TABLE {}.job DROP COLUMN batch_id").format(s))  # its index too
        tables = ("idempotency", "unique_key", "concurrency_slot", "concurrency_wait", "rate_start")
        for table in (*tables, "batch", "batch_count", "batch_continuation"):
            conn.execute(sql.SQL("DROP TABLE {}.{}").format(*map(sql.Identifier, (schema, table))))
        conn.execute(
            sql.SQL("DELETE FROM {}.schema_version WHERE version >= 3").format(
                sql.Identifier(schema)
            )
        )
    upgraded = open_storage(postgres_url)
    try:
        assert upgraded.count_by_state()["Enqueued"] == 1
        keyed = replace(make_job(), idempotency_key="k", idempotency_expire_at=at(100))
        (first,) = upgraded.create_jobs([keyed])
        assert upgraded.create_jobs([keyed]) == [first]
        assert first != old_job
        assert upgraded.promote_waiting(at(1), 10) == 0  # the limits' tables are there
        assert upgraded.finish_batches(at(1), 10) == []  # and the batches'
        assert upgraded.batch_jobs("b-1") == []
    finally:
        upgraded.close()


# --- batches ---------------------------------------------------------------------------------


def test_batch_members_are_counted_in_each_backends_own_shard(
    storage: PostgresStorage, postgres_url: str
) -> None:
    from dataclasses import replace

    from stoker.core.batches import NewBatch
    from stoker.testing.contract import at, make_job

    def member(state: str = "Enqueued", **options: Any) -> NewJob:
        return replace(make_job(state=state, **options), batch_id="b-1")

    jobs = [member(), member(), member("Scheduled", run_at=at(10))]
    ids = storage.create_batch(NewBatch("b-1", "three", at(0)), jobs)
    other = open_storage(postgres_url)
    try:
        fetched = other.fetch_next(["default"], "gone-server", "w", at(1))  # another backend
        assert fetched is not None
        assert fetched.id == ids[0]
        assert storage.enqueue_due_scheduled(at(11), 10) == 1  # the scheduler moves one
        assert storage.requeue_orphaned_jobs(at(12), 10) == [ids[0]]  # the watchdog another
        assert other.fetch_next(["default"], "server-1", "w", at(13)) is not None
    finally:
        other.close()
    found = storage.get_batch("b-1")
    assert found is not None
    assert {name: n for name, n in found.counts.items() if n} == {"Enqueued": 2, "Processing": 1}
    s = sql.Identifier(_schema_of(postgres_url))
    with psycopg.connect(postgres_url.partition("?")[0]) as conn:
        query = sql.SQL("SELECT count(DISTINCT shard) FROM {}.batch_count").format(s)
        row = conn.execute(query).fetchone()
    assert row is not None
    assert row[0] >= 2
