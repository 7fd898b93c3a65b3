"""The database goes away under running servers and a producer, and comes back: the servers
reconnect on their own, no job is lost, and each outage is logged once, not once per job."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.databases import PASSWORD, PrivateDatabase, PrivatePostgres, PrivateRedis
from tests.reliability.servers import ServerProcess, cli_server, stop_all
from tests.reliability.support import Figures, pending, read_runs, seconds, size

OUTAGES = size(1, 6)
DOWNTIME = 2.0  # seconds the database is away each time
UP_BETWEEN = 6.0  # longer than the storages' "quiet after recovery" window (5 s)
UP_AFTER = 2.0
SERVERS = 2
# Heartbeat and server timeout in the default ratio (30 s / 300 s), scaled down: an outage
# shorter than the server timeout must not make servers declare each other dead.
TIMING = ("--heartbeat-interval", "0.5", "--server-timeout", "8")
# Lines that announce the start of an outage (server loops, PostgreSQL pool, Redis client).
SERVER_OUTAGE = "storage unavailable"  # the server loops' own announcement (OutageReporter)
WARNING_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", re.MULTILINE)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(seconds(150, 400))]


@pytest.fixture(params=["postgres", "redis"])
def database(request: pytest.FixtureRequest) -> Iterator[PrivateDatabase]:
    server: PrivateDatabase = PrivatePostgres() if request.param == "postgres" else PrivateRedis()
    try:
        yield server
    finally:
        server.close()


class Producer(threading.Thread):
    """Enqueues jobs steadily, retrying through outages like a careful application would."""

    def __init__(self, app: stoker.App, runs: Path) -> None:
        super().__init__(name="producer", daemon=True)
        self.app, self.runs = app, runs
        self.accepted: list[int] = []  # numbers of the jobs whose enqueue returned an id
        self.errors = 0  # enqueue calls that raised (each was retried)
        self.stopping = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            try:
                self.app.enqueue(jobs.mark, str(self.runs), number, 0.01)
            except Exception:
                # The job may or may not exist (a lost reply); either way it must not be lost
                # if it does, and we try again under a new number.
                self.errors += 1
                self.stopping.wait(0.2)
            else:
                self.accepted.append(number)
            number += 1
            self.stopping.wait(0.01)


def _wait_for_progress(producer: Producer) -> None:
    target = len(producer.accepted) + 50
    wait_for(lambda: len(producer.accepted) >= target, 30, "the producer to go on")


def _outages(database: PrivateDatabase, producer: Producer) -> None:
    for outage in range(OUTAGES):
        _wait_for_progress(producer)
        if outage:
            time.sleep(UP_BETWEEN - 1)
        # PostgreSQL: alternate a clean shutdown and a crash (crash recovery on start).
        mode = "immediate" if database.kind == "postgres" and outage % 2 else "fast"
        database.stop(mode)
        time.sleep(DOWNTIME)
        database.start()
    time.sleep(UP_AFTER)


def test_servers_reconnect_after_restarts_and_lose_nothing(
    database: PrivateDatabase, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(database.url)
    runs = tmp_path / "runs.log"
    producer = Producer(app, runs)
    servers: list[ServerProcess] = []
    try:
        servers = [
            cli_server(database.url, tmp_path / "logs", *TIMING, workers=4) for _ in range(SERVERS)
        ]
        wait_for(lambda: len(app.storage.list_servers()) == SERVERS, 30, "servers to start")
        producer.start()
        _outages(database, producer)
        producer.stopping.set()
        producer.join(30)
        wait_for(lambda: pending(app) == 0, 60, "every job to finish")
    finally:
        producer.stopping.set()
        codes = stop_all(servers)
    assert codes == [0] * SERVERS  # they rode out every outage and stopped when asked

    counts = app.storage.count_by_state()
    assert (counts["Failed"], counts["Processing"], counts["Enqueued"]) == (0, 0, 0)
    ran = read_runs(runs)
    assert set(producer.accepted) <= set(ran)  # every acknowledged job ran
    warnings = []
    for server in servers:
        log = server.log()
        assert PASSWORD not in log
        assert "Traceback" not in log
        # The server's loops share one reporter: one line per outage, not one per job or per
        # attempt. (The drivers' own lines are counted in test_outage_logging.)
        assert log.count(SERVER_OUTAGE) <= OUTAGES, log
        warnings.append(len(WARNING_LINE.findall(log)))
    figures.add(
        "database restart",
        database.kind,
        outages=OUTAGES,
        downtime_s=DOWNTIME,
        jobs=len(producer.accepted),
        lost=0,
        ran_more_than_once=sum(1 for times in ran.values() if times > 1),
        enqueue_errors=producer.errors,
        warning_lines_per_server=warnings,
        servers_survived=f"{SERVERS}/{SERVERS}",
    )
    app.close()
