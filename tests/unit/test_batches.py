"""Batch blocks check what goes in them when it is written, and store nothing until they end."""

from __future__ import annotations

from datetime import datetime

import pytest

import stoker
from stoker.core.batches import BatchRecord, batch_outcome
from stoker.core.errors import JobDefinitionError
from tests.unit import jobs_for_tests as jobs
from tests.unit.conftest import total_jobs


def test_a_description_past_500_characters_is_refused(app: stoker.App) -> None:
    with pytest.raises(JobDefinitionError, match="at most 500"):
        app.batch("x" * 501)


def test_keys_and_unique_functions_are_refused_in_a_batch(app: stoker.App) -> None:
    with pytest.raises(JobDefinitionError, match="no idempotency or unique key"):
        app.with_options(unique_key="k").batch()
    with pytest.raises(JobDefinitionError, match="unique job"), app.batch() as batch:
        batch.enqueue(jobs.unique_add, 1)
    assert total_jobs(app) == 0


def test_bad_arguments_are_refused_at_the_call_inside_the_block(app: stoker.App) -> None:
    with app.batch() as batch:
        with pytest.raises(JobDefinitionError, match="arguments do not match"):
            batch.enqueue(jobs.add, 1, 2, 3)
        with pytest.raises(ValueError, match="naive"):
            batch.enqueue_at(datetime(2030, 1, 1), jobs.add, 1)
        batch.enqueue(jobs.add, 1)
    assert len(batch.job_ids) == 1


def test_a_batchs_state_follows_its_jobs_counts() -> None:
    def record(**counts: int) -> BatchRecord:
        return BatchRecord("b", "", datetime.now().astimezone(), 3, counts)

    assert record(Enqueued=1, Succeeded=2).state == "Started"
    assert record(Succeeded=3).state == "Succeeded"
    assert record(Succeeded=2, Failed=1).state == "Failed"
    assert record(Succeeded=2, Deleted=1).state == "Deleted"
    assert batch_outcome({}, 0) == "Succeeded"
