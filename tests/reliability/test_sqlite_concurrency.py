"""SQLite with many processes writing at once: nobody ever sees "database is locked"."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability.servers import ServerProcess, cli_server, stop_all
from tests.reliability.support import Figures, pending, read_runs, size

SERVERS = 3
PRODUCERS = 3
JOBS_EACH = size(1_500, 10_000)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300 if JOBS_EACH > 2_000 else 90)]


def _producer(url: str, runs: Path, first: int, logs: Path) -> ServerProcess:
    command = [sys.executable, "-m", "tests.reliability.produce", url, str(runs)]
    return ServerProcess([*command, str(first), str(JOBS_EACH)], logs, "producer")


def test_servers_and_producers_writing_at_once_never_see_a_locked_database(
    sqlite_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(sqlite_url)
    runs, logs = tmp_path / "runs.log", tmp_path / "logs"
    servers: list[ServerProcess] = []
    reads = 0
    began = time.monotonic()
    try:
        servers = [cli_server(sqlite_url, logs, workers=4) for _ in range(SERVERS)]
        producers = [_producer(sqlite_url, runs, n * JOBS_EACH, logs) for n in range(PRODUCERS)]
        while any(producer.alive() for producer in producers):
            app.storage.count_by_state()  # this process reads all along, like a dashboard
            app.storage.list_jobs("Succeeded", limit=20)
            reads += 1
            time.sleep(0.05)
        codes = [producer.wait(10) for producer in producers]
        wait_for(lambda: pending(app) == 0, 60, "every job to finish")
        took = time.monotonic() - began
    finally:
        server_codes = stop_all(servers)
    total = PRODUCERS * JOBS_EACH
    outputs = [process.log() for process in [*servers, *producers]]
    assert all("locked" not in text.lower() for text in outputs), outputs
    assert codes == [0] * PRODUCERS, outputs
    assert server_codes == [0] * SERVERS
    counts = app.storage.count_by_state()
    assert (counts["Succeeded"], counts["Failed"]) == (total, 0)
    assert set(read_runs(runs)) == set(range(total))
    figures.add(
        "SQLite, many writers",
        "sqlite",
        writer_processes=SERVERS + PRODUCERS,
        jobs=total,
        monitor_reads=reads,
        locked_errors=0,
        seconds=round(took, 1),
    )
    app.close()
