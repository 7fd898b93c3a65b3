"""Online backups of an SQLite database: copy, verify, name by time, and prune old ones."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

STAMP = "%Y%m%d-%H%M%S-%f"
STAMP_PATTERN = r"\d{8}-\d{6}-\d{6}"
PARTIAL_SUFFIX = ".partial"


class BackupError(RuntimeError):
    """The backup could not be made or did not verify."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    bytes: int
    taken_at: datetime


def backup_name(source: Path, at: datetime) -> str:
    """`app-20261128-030000-000000.db`: sorts by time as text."""
    return f"{source.stem}-{at.astimezone(UTC).strftime(STAMP)}{source.suffix or '.db'}"


def _pattern(source: Path) -> re.Pattern[str]:
    suffix = re.escape(source.suffix or ".db")
    return re.compile(rf"^{re.escape(source.stem)}-({STAMP_PATTERN}){suffix}$")


def list_backups(source: Path, folder: Path) -> list[BackupFile]:
    """Backups of `source` in `folder`, newest first. Other files are never looked at, so a
    folder shared with other backups (or other databases' backups) is safe to prune."""
    pattern = _pattern(source)
    found = []
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            taken = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
            found.append(BackupFile(path, path.stat().st_size, taken))
    return sorted(found, key=lambda backup: backup.path.name, reverse=True)


def integrity_check(path: Path) -> str:
    """ "ok", or the problems SQLite found."""
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows)


def copy_database(source: Path, target: Path) -> int:
    """Copy `source` to `target` with SQLite's online backup API; returns the pages copied.

    One step (pages=-1) on purpose: a step-wise backup restarts whenever another connection
    writes to the source, so under steady writes it might never finish. A single step reads
    one consistent snapshot, and in WAL mode writers are not blocked meanwhile.
    """
    if not source.is_file():
        raise BackupError(f"the database to back up does not exist: {source}")
    pages = 0

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal pages
        pages = total

    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst, pages=-1, progress=progress)
        # The copy inherits WAL mode; a backup should be one self-contained file.
        dst.execute("PRAGMA journal_mode=DELETE")
    return pages


def take_backup(source: Path, folder: Path, now: datetime) -> tuple[BackupFile, int]:
    """Copy, verify, then give the file its final name (a crash leaves only a .partial file,
    never a backup that looks complete but is not). Returns the backup and its page count."""
    at = now
    while (folder / backup_name(source, at)).exists():  # same instant (a frozen test clock)
        at += timedelta(microseconds=1)
    final = folder / backup_name(source, at)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    try:
        pages = copy_database(source, partial)
        verdict = integrity_check(partial)
        if verdict != "ok":
            raise BackupError(f"the copy of {source} failed PRAGMA integrity_check: {verdict}")
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)
    return BackupFile(final, final.stat().st_size, at.astimezone(UTC)), pages


def prune(source: Path, folder: Path, keep: int, log: Callable[[str], None]) -> list[str]:
    """Delete all but the newest `keep` backups of `source`; returns the deleted names."""
    removed = []
    for old in list_backups(source, folder)[keep:]:
        old.path.unlink(missing_ok=True)  # another run may have removed it already
        log(f"removed old backup {old.path.name} ({old.bytes} bytes)")
        removed.append(old.path.name)
    return removed
