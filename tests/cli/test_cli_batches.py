"""`stoker batches list|show|delete|requeue` on every storage."""

from __future__ import annotations

import json
from collections.abc import Callable

import stoker
from tests.cli import cli_jobs as jobs
from tests.cli.conftest import Result

Run = Callable[..., Result]


def make_batch(app: stoker.App) -> stoker.Batch:
    with app.batch("nightly import") as batch:
        batch.enqueue_many(jobs.add, [(n,) for n in range(3)])
        batch.then(jobs.add, 0)
    return batch


def test_batches_are_listed_and_shown(run_cli: Run, app: stoker.App, any_storage_url: str) -> None:
    batch = make_batch(app)
    listed = run_cli("batches", "list", "--storage", any_storage_url)
    assert listed.code == 0, listed.err
    assert batch.id in listed.out
    assert "Started   0/3 settled" in listed.out
    assert "'nightly import'" in listed.out
    shown = run_cli("batches", "show", batch.id, "--json", "--storage", any_storage_url)
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    assert (data["total"], data["counts"]["Enqueued"]) == (3, 3)
    assert data["continuations"] == [batch.job_ids[-1]]
    missing = run_cli("batches", "show", "nope", "--storage", any_storage_url)
    assert missing.code == 2
    assert "no batch with id 'nope'" in missing.err


def test_a_batch_is_deleted_then_requeued(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    batch = make_batch(app)
    deleted = run_cli("batches", "delete", batch.id, "--storage", any_storage_url)
    assert (deleted.code, deleted.out.strip()) == (0, "deleted 3 job(s)")
    requeued = run_cli("batches", "requeue", batch.id, "--storage", any_storage_url)
    assert (requeued.code, requeued.out.strip()) == (0, "requeued 3 job(s)")
    found = app.get_batch(batch.id)
    assert found is not None
    assert found.counts["Enqueued"] == 3
