"""The PostgreSQL storage: psycopg 3, FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY wake-ups."""

from __future__ import annotations

from stoker.storage.postgres.storage import PostgresStorage

__all__ = ["PostgresStorage"]
