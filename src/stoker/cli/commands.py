"""What each `stoker` subcommand does (argument parsing lives in stoker.cli)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from datetime import timedelta
from typing import Any

from stoker.app import App, default_storage_url
from stoker.core import codec
from stoker.core.errors import JobNotFoundError, JobWaitTimeoutError, StokerError
from stoker.core.job_info import JobInfo
from stoker.core.jobs import resolve
from stoker.core.records import JobRecord
from stoker.core.states import STATE_NAMES, may_still_run


def importable_cwd() -> None:
    """Like uvicorn and celery: the user's modules in the working directory are importable."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def load_app(args: argparse.Namespace) -> App:
    """The App named by --app, or one on --storage / $STOKER_STORAGE / the default file."""
    importable_cwd()
    if getattr(args, "app", None):
        module_name, _, attribute = args.app.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise StokerError(f"cannot import {module_name!r} for --app: {exc}") from None
        app = getattr(module, attribute or "app", None)
        if not isinstance(app, App):
            raise StokerError(f"--app {args.app!r} is not a stoker.App (got {type(app).__name__})")
        return app
    return App(storage_url(args))


def storage_url(args: argparse.Namespace) -> str:
    """--storage, else $STOKER_STORAGE, else the default file; never a memory:// storage,
    whose jobs live in another process's memory (a command would see an empty one)."""
    url: str = getattr(args, "storage", None) or default_storage_url()
    if url.partition("://")[0].lower() == "memory":
        raise StokerError(
            f"{url} lives in the memory of the process that opened it: a `stoker` command "
            "cannot see its jobs; use a storage processes share (sqlite:///stoker.db, "
            "postgresql://…, redis://…)"
        )
    return url


def _cli_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def enqueue(args: argparse.Namespace) -> int:
    importable_cwd()
    func = resolve(args.function)
    kwargs = json.loads(args.kwargs)
    if not isinstance(kwargs, dict):
        raise ValueError("--kwargs must be a JSON object")
    app = load_app(args)
    try:
        client = app.with_options(
            queue=args.queue,
            idempotency_key=args.idempotency_key,
            unique_key=args.unique_key,
            concurrency=args.concurrency,
            concurrency_key=args.concurrency_key,
            rate_limit=args.rate_limit,
            rate_key=args.rate_key,
        )
        values = [_cli_value(arg) for arg in args.args]
        if args.delay is not None:
            job_id = client.enqueue_in(timedelta(seconds=args.delay), func, *values, **kwargs)
        else:
            job_id = client.enqueue(func, *values, **kwargs)
    finally:
        app.close()
    print(job_id)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    """`stoker jobs list`: one state's jobs; a search without --state looks in every state."""
    app = load_app(args)
    try:
        if args.state is None and args.search:
            records, total = _search_every_state(app, args)
        else:
            state = args.state or "Enqueued"
            records = app.storage.list_jobs(
                state,
                queue=args.queue,
                search=args.search,
                offset=args.offset,
                limit=args.limit,
                newest_first=not args.oldest_first,
            )
            total = app.storage.count_jobs(state, queue=args.queue, search=args.search)
    finally:
        app.close()
    for record in records:
        print(json.dumps(_record_as_json(record), default=str) if args.json else _line(record))
    if not args.json:
        every_state = args.state is None and args.search
        what = "matching job(s)" if every_state else f"{args.state or 'Enqueued'} job(s)"
        print(f"-- {len(records)} of {total} {what}", file=sys.stderr)
    return 0


def _search_every_state(app: App, args: argparse.Namespace) -> tuple[list[JobRecord], int]:
    """The page `--offset`/`--limit` of the matches of all states, by the time each job
    entered its state; the total is the sum of each state's matches."""
    found: list[JobRecord] = []
    total = 0
    for state in STATE_NAMES:
        result = app.storage.search_jobs(
            state,
            args.search,
            queue=args.queue,
            offset=0,
            limit=args.offset + args.limit,
            newest_first=not args.oldest_first,
        )
        found.extend(result.jobs)
        total += result.total
    found.sort(key=lambda record: record.state.created_at, reverse=not args.oldest_first)
    return found[args.offset : args.offset + args.limit], total


def _record_as_json(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "function": record.function,
        "queue": record.queue,
        "state": record.state.name,
        "at": record.state.created_at.isoformat(),
        "args": codec.loads(record.args),
        "reason": record.state.reason,
    }


def _line(record: JobRecord) -> str:
    reason = f"  ({record.state.reason})" if record.state.reason else ""
    return (
        f"{record.id:>10}  {record.state.name:<10} {record.state.created_at:%Y-%m-%d %H:%M:%S}  "
        f"{record.queue:<10} {record.function}{reason}"
    )


def show_job(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        info = app.get_job(args.job_id)
    finally:
        app.close()
    if info is None:
        raise JobNotFoundError(f"no job with id {args.job_id!r}")
    if args.json:
        print(json.dumps(_job_as_json(info), indent=2, default=str))
    else:
        _print_job(info)
    return 0


def wait_for_job(args: argparse.Namespace) -> int:
    """`stoker jobs wait ID`: 0 if the job Succeeded, 1 if it Failed or was Deleted, 3 if
    the timeout passed first (2 is every other error, as for every command)."""
    app = load_app(args)
    try:
        info = app.wait(args.job_id, timeout=args.timeout)
    except JobWaitTimeoutError as exc:
        print(f"stoker: {exc}", file=sys.stderr)
        return 3
    finally:
        app.close()
    if args.json:
        print(json.dumps(_job_as_json(info), indent=2, default=str))
    else:
        _print_job(info)
    return 0 if info.state == "Succeeded" else 1


def _job_as_json(info: JobInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "function": info.function,
        "args": codec.to_json_value(list(info.args)),
        "kwargs": codec.to_json_value(dict(info.kwargs)),
        "queue": info.queue,
        "state": info.state,
        "params": dict(info.params),
        "history": [
            {
                "name": h.name,
                "at": h.created_at.isoformat(),
                "reason": h.reason,
                "data": dict(h.data),
            }
            for h in info.history
        ],
        "logs": [{"at": at.isoformat(), "message": text} for at, text in info.logs],
    }


def _print_job(info: JobInfo) -> None:
    arguments = ", ".join(
        [repr(a) for a in info.args] + [f"{k}={v!r}" for k, v in info.kwargs.items()]
    )
    print(f"Job {info.id}: {info.function}({arguments})")
    print(
        f"  state: {info.state}   queue: {info.queue}   "
        f"created: {info.created_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    for entry in info.history:
        reason = f" - {entry.reason}" if entry.reason else ""
        print(f"  {entry.created_at:%Y-%m-%d %H:%M:%S.%f}  {entry.name}{reason}")
    if info.state == "Succeeded":
        print(f"  result: {info.result!r}")
    if info.exception is not None:
        print(f"  last exception: {info.exception.type}: {info.exception.message}")
    for at, text in info.logs:
        print(f"  log {at:%H:%M:%S}  {text}")


RUNNING_WARNING = (
    "stoker: warning: job {job_id} was running, and may still be: code that never checks "
    "stoker.current_job().cancelled runs on to its end, beside any copy that is requeued "
    "meanwhile"
)


def _move_jobs(args: argparse.Namespace, verb: str) -> int:
    app = load_app(args)
    changed = 0
    try:
        for job_id in args.job_ids:
            move = app.requeue if verb == "requeue" else app.delete
            details = app.storage.job_details(job_id)
            maybe_running = details is not None and may_still_run(details.history)
            ok = move(job_id, expected_state=args.expected_state)
            changed += int(ok)
            print(
                f"{job_id}: "
                + (f"{verb}d" if ok else "not changed (unknown, or not in the expected state)")
            )
            if ok and maybe_running:
                print(RUNNING_WARNING.format(job_id=job_id), file=sys.stderr)
    finally:
        app.close()
    return 0 if changed == len(args.job_ids) else 1


def requeue_jobs(args: argparse.Namespace) -> int:
    return _move_jobs(args, "requeue")


def delete_jobs(args: argparse.Namespace) -> int:
    return _move_jobs(args, "delete")


def list_recurring(args: argparse.Namespace) -> int:
    from stoker.core.cron import Schedule

    app = load_app(args)
    try:
        records = app.storage.list_recurring()
    finally:
        app.close()
    for record in records:
        when = record.next_run.strftime("%Y-%m-%d %H:%M:%S UTC") if record.next_run else "paused"
        words = Schedule(record.cron, record.timezone).describe()
        print(
            f"{record.id:<24} {record.cron:<16} ({words}, {record.timezone})  "
            f"next: {when}  {record.function}"
        )
        if record.error:
            print(f"{'':<24} error: {record.error}")
    print(f"-- {len(records)} recurring job(s)", file=sys.stderr)
    return 0


def recurring_action(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        if args.verb == "trigger":
            print(app.recurring.trigger(args.recurring_id))
            return 0
        done = getattr(app.recurring, args.verb)(args.recurring_id)
    finally:
        app.close()
    if not done:
        raise JobNotFoundError(f"no recurring job with id {args.recurring_id!r}")
    print(
        f"{args.recurring_id}: {args.verb}d"
        if args.verb != "pause"
        else f"{args.recurring_id}: paused"
    )
    return 0


def migrate(args: argparse.Namespace) -> int:
    from stoker.storage import open_storage

    storage = open_storage(storage_url(args))  # every storage migrates its schema when opened
    migrate_now = getattr(storage, "migrate", None)
    if callable(migrate_now):
        migrate_now()
    storage.close()
    print("storage schema is up to date")
    return 0


def dashboard(args: argparse.Namespace) -> int:
    module = importlib.import_module("stoker.dashboard")
    options = dashboard_options(args)
    app = load_app(args)
    from stoker.dashboard.access import is_loopback

    local = args.host == "localhost" or is_loopback(args.host)
    if not local and not {"authorize", "basic_auth"} & options.keys():
        print(
            f"stoker: warning: listening on {args.host} without --authorize or --basic-auth: "
            "only requests from this host are answered",
            file=sys.stderr,
        )
    try:
        module.serve(
            app,
            host=args.host,
            port=args.port,
            root_path=args.root_path,
            forwarded_allow_ips=args.forwarded_allow_ips,
            **options,
        )
    finally:
        app.close()
    return 0


def dashboard_options(args: argparse.Namespace) -> dict[str, Any]:
    """`create_app` options from `stoker dashboard`'s arguments; bad values raise here,
    before anything listens."""
    options: dict[str, Any] = {"read_only": args.read_only}
    if args.authorize:
        importable_cwd()
        options["authorize"] = resolve(args.authorize)
    if args.basic_auth:
        user, colon, password = args.basic_auth.partition(":")
        if not colon:
            raise ValueError("--basic-auth must be USER:PASSWORD")
        options["basic_auth"] = (user, password)
    if args.secret_key:
        if len(args.secret_key.encode()) < 16:
            raise ValueError("--secret-key must be at least 16 bytes long")
        options["secret_key"] = args.secret_key
    if args.allowed_hosts:
        hosts = [name.strip() for name in args.allowed_hosts.split(",") if name.strip()]
        options["allowed_hosts"] = hosts
    return options


def demo(args: argparse.Namespace) -> int:
    from stoker.cli.demo import run_demo

    return run_demo(seconds=args.seconds)
