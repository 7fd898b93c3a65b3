"""Fresh, isolated storage namespaces for one measurement: a file, a schema or a key prefix."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STORAGES = ("sqlite", "postgres", "redis")
POSTGRES_URL = os.environ.get("STOKER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("STOKER_BENCH_REDIS", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Namespace:
    """Where one measurement runs.

    `url` is the stoker storage URL; `base` and `name` address the same place for the floor
    mode's raw driver: (database file, "") for SQLite, (conninfo, schema) for PostgreSQL and
    (Redis URL, key prefix) for Redis."""

    kind: str
    url: str
    base: str
    name: str


@contextlib.contextmanager
def fresh(kind: str) -> Iterator[Namespace]:
    """A namespace nobody else uses, removed with everything in it afterwards."""
    tag = uuid.uuid4().hex[:10]
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="stoker-bench-"))
        path = folder / "bench.db"
        try:
            yield Namespace(kind, f"sqlite:///{path}", str(path), "")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    elif kind == "postgres":
        schema = f"stoker_bench_{tag}"
        try:
            yield Namespace(kind, f"{POSTGRES_URL}?schema={schema}", POSTGRES_URL, schema)
        finally:
            drop_schema(schema)
    elif kind == "redis":
        prefix = f"stoker-bench-{tag}"
        try:
            yield Namespace(kind, f"{REDIS_URL}?prefix={prefix}", REDIS_URL, prefix)
        finally:
            delete_prefix(prefix)
    else:
        raise ValueError(f"unknown storage {kind!r}; expected one of {', '.join(STORAGES)}")


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def available(kind: str) -> str | None:
    """Why `kind` cannot be benchmarked here (missing driver or service), or None if it can."""
    try:
        with fresh(kind) as namespace:
            import stoker

            stoker.App(namespace.url).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None
