"""`stoker batches list|show|delete|requeue`: batches from a shell."""

from __future__ import annotations

import argparse
import json
import sys

from stoker.cli.commands import load_app
from stoker.core.batches import BatchRecord
from stoker.core.errors import BatchNotFoundError


def _line(batch: BatchRecord) -> str:
    counts = ", ".join(f"{name} {n}" for name, n in batch.counts.items() if n)
    created = batch.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"{batch.id}  {batch.state:<9} {batch.settled}/{batch.total} settled  "
        f"created {created}  {batch.description!r}  ({counts or 'no jobs'})"
    )


def list_batches(args: argparse.Namespace) -> int:
    """Newest first, `--limit` of them."""
    app = load_app(args)
    try:
        batches = app.storage.list_batches(limit=args.limit)
        total = app.storage.count_batches()
    finally:
        app.close()
    for batch in batches:
        print(_line(batch))
    print(f"-- {len(batches)} of {total} batch(es)", file=sys.stderr)
    return 0


def show_batch(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        batch = app.get_batch(args.batch_id)
    finally:
        app.close()
    if batch is None:
        raise BatchNotFoundError(f"no batch with id {args.batch_id!r}")
    if args.json:
        data = {
            "id": batch.id,
            "description": batch.description,
            "state": batch.state,
            "total": batch.total,
            "counts": dict(batch.counts),
            "created_at": batch.created_at.isoformat(),
            "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
            "outcome": batch.outcome,
            "continuations": list(batch.continuations),
        }
        print(json.dumps(data, indent=2))
    else:
        print(_line(batch))
        finished = batch.finished_at.isoformat() if batch.finished_at else "not yet"
        print(f"finished: {finished}  continuations: {', '.join(batch.continuations) or 'none'}")
    return 0


def change_batch(args: argparse.Namespace) -> int:
    """`delete`: every job not Succeeded or Deleted; `requeue`: the Failed and Deleted ones."""
    app = load_app(args)
    try:
        if args.verb == "delete":
            moved = app.delete_batch(args.batch_id)
        else:
            moved = app.requeue_batch(args.batch_id)
    finally:
        app.close()
    print(f"{'deleted' if args.verb == 'delete' else 'requeued'} {moved} job(s)")
    return 0
