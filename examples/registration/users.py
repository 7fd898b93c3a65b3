"""The application database (SQLite): registered users, activation tokens and their mail."""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MAX_NAME = 100
MAX_EMAIL = 254
# Deliberately simple: the activation mail is the real check that the address works.
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL UNIQUE,
    registered_at TEXT NOT NULL,
    activation_job_id TEXT,
    mail_sent_at TEXT,
    activated_at TEXT
)
"""


class RegistrationError(ValueError):
    """What the person filling in the form did wrong (shown to them)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    email: str
    token: str
    registered_at: datetime
    activation_job_id: str | None
    mail_sent_at: datetime | None
    activated_at: datetime | None

    @property
    def active(self) -> bool:
        return self.activated_at is not None


def validate(name: str, email: str) -> tuple[str, str]:
    """The cleaned-up name and address, or RegistrationError saying what is wrong."""
    name = " ".join(name.split())
    email = email.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise RegistrationError(f"Please enter your name (1 to {MAX_NAME} characters).")
    if len(email) > MAX_EMAIL or not EMAIL.match(email):
        raise RegistrationError("Please enter a valid e-mail address, like ada@example.com.")
    return name, email


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _user(row: sqlite3.Row) -> User:
    registered = _time(row["registered_at"])
    assert registered is not None
    return User(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        token=row["token"],
        registered_at=registered,
        activation_job_id=row["activation_job_id"],
        mail_sent_at=_time(row["mail_sent_at"]),
        activated_at=_time(row["activated_at"]),
    )


class UserStore:
    """Users in an SQLite file. A connection per call: handlers and jobs run on many threads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as conn:
            conn.row_factory = sqlite3.Row
            with conn:  # one transaction, committed on success, rolled back on error
                yield conn

    def create_schema(self) -> None:
        with self._connect() as conn:
            # WAL: the backup job and the web app read while a registration writes.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(SCHEMA)

    def register(self, name: str, email: str, now: datetime) -> User:
        name, email = validate(name, email)
        token = secrets.token_urlsafe(24)
        try:
            with self._connect() as conn:
                cursor = conn.execute(
                    "INSERT INTO users (name, email, token, registered_at) VALUES (?, ?, ?, ?)",
                    (name, email, token, now.astimezone(UTC).isoformat()),
                )
                user_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            raise RegistrationError(f"{email} is already registered.") from None
        assert user_id is not None
        found = self.get(user_id)
        assert found is not None
        return found

    def remove(self, user_id: int) -> None:
        """Undo a registration whose activation job could not be created."""
        with self._connect() as conn:
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    def set_activation_job(self, user_id: int, job_id: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE users SET activation_job_id = ? WHERE id = ?", (job_id, user_id))

    def mark_mail_sent(self, user_id: int, now: datetime) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE users SET mail_sent_at = ? WHERE id = ?",
                (now.astimezone(UTC).isoformat(), user_id),
            )

    def activate(self, token: str, now: datetime) -> User | None:
        """Activate the user holding `token` (again is fine); None for an unknown token."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE users SET activated_at = ? WHERE token = ? AND activated_at IS NULL",
                (now.astimezone(UTC).isoformat(), token),
            )
            row = conn.execute("SELECT * FROM users WHERE token = ?", (token,)).fetchone()
        return _user(row) if row is not None else None

    def get(self, user_id: int) -> User | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row) if row is not None else None

    def recent(self, limit: int = 20) -> list[User]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM users ORDER BY id DESC LIMIT ?", (limit,))
            return [_user(row) for row in rows]

    def count(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
