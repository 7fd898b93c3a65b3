"""`python -m tests.reliability.produce URL RUNS FIRST COUNT`: enqueue jobs one per transaction.

A separate writer process for the SQLite concurrency test: every enqueue is its own write
transaction, interleaved with reads, while servers in other processes write too. Any error
(such as "database is locked") ends the process with a traceback and a non-zero code.
"""

from __future__ import annotations

import sys

import stoker
from tests.reliability import reliability_jobs as jobs


def main() -> None:
    url, runs, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    app = stoker.App(url)
    try:
        for number in range(first, first + count):
            job_id = app.enqueue(jobs.mark, runs, number)
            if number % 50 == 0:  # a reader too, like a dashboard or a CLI user
                assert app.get_job(job_id) is not None
                app.storage.count_by_state()
    finally:
        app.close()


if __name__ == "__main__":
    main()
