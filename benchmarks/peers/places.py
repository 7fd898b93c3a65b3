"""Fresh storage per measurement: a temp SQLite file, our own Redis db, our own PG database."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

REDIS_HOST = os.environ.get("PEERS_REDIS", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("PEERS_REDIS_DB", "12"))
POSTGRES = os.environ.get("PEERS_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
ADMIN_DB = "test"


def redis_url() -> str:
    return f"{REDIS_HOST}/{REDIS_DB}"


def flush_redis() -> None:
    """FLUSHDB on our own database number only."""
    import redis

    client = redis.Redis.from_url(redis_url())
    try:
        client.flushdb()
    finally:
        client.close()


def redis_keys() -> int:
    import redis

    client = redis.Redis.from_url(redis_url())
    try:
        return int(client.dbsize())
    finally:
        client.close()


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/{ADMIN_DB}", autocommit=True) as conn:
        conn.execute(statement)  # names below are ours, never user input


@contextlib.contextmanager
def fresh(storage: str, system: str) -> Iterator[tuple[str, Path]]:
    """(storage URL or SQLite path, scratch folder), removed with everything afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    try:
        if storage == "sqlite":
            yield str(folder / f"{system}.db"), folder
        elif storage == "redis":
            flush_redis()
            try:
                yield redis_url(), folder
            finally:
                flush_redis()
        elif storage == "postgres":
            name = "bench_peers_" + system.replace("-", "_")
            _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            _admin(f"CREATE DATABASE {name}")
            try:
                yield f"{POSTGRES}/{name}", folder
            finally:
                _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            raise ValueError(f"unknown storage {storage!r}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
