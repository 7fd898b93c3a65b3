"""Which state changes a custom StateFilter sees: exactly the ones the README lists."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import stoker
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state


class Recorder:
    """Remembers the state each stored change elected, per job, in order."""

    def __init__(self) -> None:
        self.elected: dict[str, list[str]] = defaultdict(list)
        self.applied: dict[str, list[str]] = defaultdict(list)

    def on_election(self, context: stoker.ElectionContext) -> None:
        self.elected[context.job_id].append(context.candidate.name)

    def on_applied(self, context: stoker.ElectionContext) -> None:
        self.applied[context.job_id].append(context.candidate.name)


def test_a_filter_sees_outcomes_and_client_changes_but_not_creation_claims_or_promotion(
    storage_url: str, tmp_path: Path
) -> None:
    recorder = Recorder()
    with stoker.App(storage_url, filters=[recorder]) as app:
        parked = app.with_options(queue="parked")  # no server listens to it
        moved = parked.enqueue(jobs.add, 1, 1)
        assert app.delete(moved)
        assert app.requeue(moved, expected_state="Deleted")
        with app.server(workers=2, **FAST):
            flaky = app.with_options(retry_delays=[0]).enqueue(
                jobs.fail_first_run, str(tmp_path), "flaky"
            )
            delayed = app.enqueue_in(timedelta(seconds=0.3), jobs.add, 2, 2)
            child = app.continue_with(flaky, jobs.add, 3, 3)
            for job_id in (flaky, delayed, child):
                wait_for_state(app, job_id, "Succeeded", timeout=15)
            wait_for(lambda: len(recorder.applied) == 4, 5, "every outcome to be applied")
    assert dict(recorder.applied) == {
        moved: ["Deleted", "Enqueued"],  # the client's delete and requeue
        flaky: ["Scheduled", "Succeeded"],  # the failure, turned into a retry; the outcome
        delayed: ["Succeeded"],  # not its creation, its promotion to Enqueued, or its claim
        child: ["Succeeded"],  # not its release from Awaiting
    }
    assert recorder.elected == recorder.applied
