"""The `stoker` command line: server, dashboard, enqueue, jobs, recurring, storage and demo."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stoker.cli import serve
from stoker.core.errors import StokerError
from stoker.core.states import STATE_NAMES
from stoker.server.options import DEFAULT_CONCURRENCY, default_workers

EPILOG = (
    "The storage comes from --app (an App object, 'pkg.module:app'), else --storage, else "
    "$STOKER_STORAGE, else sqlite:///stoker.db in the current directory."
)


def _command(name: str, module: str = "commands") -> Callable[[argparse.Namespace], int]:
    """Subcommand `name` of stoker.cli.<module>, imported when it runs: parsing the command
    line loads none of the App (and the supervisor of `server --processes N` never does)."""

    def run(args: argparse.Namespace) -> int:
        handlers = importlib.import_module(f"stoker.cli.{module}")
        result: int = getattr(handlers, name)(args)
        return result

    run.__name__ = name
    return run


def _add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", help="storage URL: sqlite:///file.db, postgresql://…, redis://…"
    )
    parser.add_argument("--app", help="an App object to use, as 'package.module:attribute'")


def _add_server_parser(commands: Any) -> None:
    server = commands.add_parser(
        "server", help="run a job server until SIGTERM/SIGINT", epilog=EPILOG
    )
    _add_app_options(server)
    server.add_argument(
        "--queues",
        "-q",
        default="default",
        help="comma-separated, highest priority first (default: default)",
    )
    server.add_argument(
        "--workers",
        "-w",
        type=int,
        default=default_workers(),
        help="worker threads per process, for plain `def` jobs (default: %(default)s)",
    )
    server.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="`async def` jobs in flight per process, on its event loop (default: %(default)s)",
    )
    server.add_argument(
        "--processes",
        "-p",
        type=int,
        default=1,
        help="worker processes, for CPU-bound jobs (default: 1)",
    )
    server.add_argument("--name", help="server name shown in the dashboard (default: host name)")
    server.add_argument(
        "--poll-interval", type=float, default=1.0, help="longest idle wait in seconds (default: 1)"
    )
    server.add_argument(
        "--heartbeat-interval", type=float, default=30.0, help="seconds (default: 30)"
    )
    server.add_argument(
        "--server-timeout",
        type=float,
        default=300.0,
        help="seconds without heartbeat before a server is dead (default: 300)",
    )
    server.add_argument(
        "--statistics-interval",
        type=float,
        default=1.0,
        help="seconds between writes of the folded statistics counters (default: 1)",
    )
    server.add_argument(
        "--shutdown-timeout",
        type=float,
        default=15.0,
        help="seconds running jobs get to finish on SIGTERM (default: 15)",
    )
    server.add_argument(
        "--scheduler-interval",
        type=float,
        default=1.0,
        help="seconds between scheduler polls (default: 1)",
    )
    server.add_argument(
        "--no-schedulers",
        action="store_true",
        help="do not run the delayed/recurring schedulers here",
    )
    server.add_argument(
        "--metrics-port",
        type=_port,
        help="serve Prometheus metrics on this port (needs stoker[metrics]; docs/metrics.md)",
    )
    server.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        help="address the metrics port listens on (default: 127.0.0.1; 0.0.0.0 for all)",
    )
    server.set_defaults(handler=serve.run_server)


def _add_job_parsers(commands: Any) -> None:
    enqueue = commands.add_parser(
        "enqueue",
        help="enqueue a job: stoker enqueue pkg.mod:func ARG…",
        description=(
            'Arguments are JSON when they parse as JSON (42, true, "text", [1,2]), else strings.'
        ),
        epilog=EPILOG,
    )
    _add_app_options(enqueue)
    enqueue.add_argument("function", help="the job function, 'package.module:function'")
    enqueue.add_argument("args", nargs="*", help="positional arguments")
    enqueue.add_argument("--kwargs", default="{}", help="keyword arguments as a JSON object")
    enqueue.add_argument("--queue", help="queue name (default: the function's or 'default')")
    enqueue.add_argument("--in", dest="delay", type=float, help="run after this many seconds")
    enqueue.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="create the job once: a later enqueue with this key within a day prints its id",
    )
    enqueue.add_argument("--unique-key", metavar="KEY", help="no second unfinished job per key")
    enqueue.add_argument(
        "--concurrency", type=int, metavar="N", help="at most N jobs of the key run at once"
    )
    enqueue.add_argument("--concurrency-key", metavar="KEY", help="(default: the function)")
    enqueue.add_argument("--rate-limit", metavar="N/UNIT", help="at most N starts per s, m, h, d")
    enqueue.add_argument("--rate-key", metavar="KEY", help="(default: the function)")
    enqueue.set_defaults(handler=_command("enqueue"))

    jobs = commands.add_parser(
        "jobs", help="list, show, wait for, requeue or delete jobs", epilog=EPILOG
    )
    actions = jobs.add_subparsers(
        dest="action", required=True, metavar="{list,show,wait,requeue,delete}"
    )
    listing = actions.add_parser("list", help="list jobs in a state")
    _add_app_options(listing)
    listing.add_argument(
        "--state",
        type=_state_name,
        help=f"one of {', '.join(STATE_NAMES)} (default: Enqueued; every state with --search)",
    )
    listing.add_argument("--queue", help="only this queue")
    listing.add_argument(
        "--search",
        help="job id (#42 works too), or text in the function name or arguments of the "
        "newest 10,000 jobs of each state",
    )
    listing.add_argument("--limit", type=_positive, default=50)
    listing.add_argument("--offset", type=_not_negative, default=0)
    listing.add_argument("--oldest-first", action="store_true")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(handler=_command("list_jobs"))
    show = actions.add_parser("show", help="show a job with its whole history")
    _add_app_options(show)
    show.add_argument("job_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_command("show_job"))
    wait = actions.add_parser(
        "wait",
        help="wait until a job is Succeeded, Failed or Deleted, then show it; exit code 0 "
        "if it Succeeded, 1 if not, 3 on timeout",
    )
    _add_app_options(wait)
    wait.add_argument("job_id")
    wait.add_argument("--timeout", type=float, help="seconds (default: no limit)")
    wait.add_argument("--json", action="store_true")
    wait.set_defaults(handler=_command("wait_for_job"))
    for name, handler in (
        ("requeue", _command("requeue_jobs")),
        ("delete", _command("delete_jobs")),
    ):
        action = actions.add_parser(name, help=f"{name} jobs by id")
        _add_app_options(action)
        action.add_argument("job_ids", nargs="+")
        action.add_argument(
            "--expected-state", type=_state_name, help="only if the job is in this state"
        )
        action.set_defaults(handler=handler)


def _add_batch_parsers(commands: Any) -> None:
    batches = commands.add_parser(
        "batches", help="list, show, delete or requeue batches", epilog=EPILOG
    )
    actions = batches.add_subparsers(
        dest="action", required=True, metavar="{list,show,delete,requeue}"
    )
    listing = actions.add_parser("list", help="the newest batches with their progress")
    _add_app_options(listing)
    listing.add_argument("--limit", type=int, default=50, help="how many (default: 50)")
    listing.set_defaults(handler=_command("list_batches", "batches"))
    show = actions.add_parser("show", help="one batch: jobs per state, continuations")
    _add_app_options(show)
    show.add_argument("batch_id")
    show.add_argument("--json", action="store_true", help="print the batch as JSON")
    show.set_defaults(handler=_command("show_batch", "batches"))
    for name, what in (
        ("delete", "delete the batch's jobs that have not Succeeded or been Deleted"),
        ("requeue", "requeue the batch's Failed and Deleted jobs"),
    ):
        action = actions.add_parser(name, help=what)
        _add_app_options(action)
        action.add_argument("batch_id")
        action.set_defaults(handler=_command("change_batch", "batches"), verb=name)


def _add_recurring_parsers(commands: Any) -> None:
    recurring = commands.add_parser(
        "recurring", help="list and steer recurring jobs", epilog=EPILOG
    )
    actions = recurring.add_subparsers(
        dest="action", required=True, metavar="{list,trigger,pause,resume,remove}"
    )
    listing = actions.add_parser("list", help="list recurring jobs")
    _add_app_options(listing)
    listing.set_defaults(handler=_command("list_recurring"))
    for name in ("trigger", "pause", "resume", "remove"):
        action = actions.add_parser(name, help=f"{name} a recurring job")
        _add_app_options(action)
        action.add_argument("recurring_id")
        action.set_defaults(handler=_command("recurring_action"), verb=name)


def _add_other_parsers(commands: Any) -> None:
    storage = commands.add_parser("storage", help="storage maintenance")
    actions = storage.add_subparsers(dest="action", required=True, metavar="{migrate}")
    migrate = actions.add_parser("migrate", help="create or upgrade the storage's schema")
    _add_app_options(migrate)
    migrate.set_defaults(handler=_command("migrate"))

    dashboard = commands.add_parser("dashboard", help="serve the dashboard", epilog=EPILOG)
    _add_app_options(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (local only)")
    dashboard.add_argument("--port", type=int, default=8000)
    dashboard.add_argument("--read-only", action="store_true", help="hide every action")
    _add_dashboard_access_options(dashboard)
    dashboard.set_defaults(handler=_command("dashboard"))

    demo = commands.add_parser("demo", help="run example jobs on a server with embedded SQLite")
    demo.add_argument("--seconds", type=float, default=20.0, help="how long to run (default: 20)")
    demo.set_defaults(handler=_command("demo"))


def _add_dashboard_access_options(dashboard: argparse.ArgumentParser) -> None:
    dashboard.add_argument(
        "--authorize",
        metavar="PKG.MODULE:FUNCTION",
        help="a function(request) -> bool that decides who may use the dashboard",
    )
    dashboard.add_argument(
        "--basic-auth",
        metavar="USER:PASSWORD",
        default=os.environ.get("STOKER_DASHBOARD_BASIC_AUTH"),
        help="require HTTP Basic credentials (default: $STOKER_DASHBOARD_BASIC_AUTH; prefer "
        "the variable: other users of this host can read a command line)",
    )
    dashboard.add_argument(
        "--secret-key",
        default=os.environ.get("STOKER_DASHBOARD_SECRET_KEY"),
        help="signs forms and messages; the same for every process behind one address "
        "(default: $STOKER_DASHBOARD_SECRET_KEY, else random per process)",
    )
    dashboard.add_argument(
        "--root-path", default="", help="the path prefix a reverse proxy serves it under"
    )
    dashboard.add_argument(
        "--allowed-hosts",
        metavar="NAMES",
        help="comma-separated Host names to answer to, '*.example.com' and '*' allowed "
        "(default: any with --basic-auth, else localhost, 127.0.0.1 and [::1])",
    )
    dashboard.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="addresses whose X-Forwarded-For is believed (uvicorn's option; default "
        "127.0.0.1,::1)",
    )


def _state_name(text: str) -> str:
    for name in STATE_NAMES:
        if name.lower() == text.lower():
            return name
    raise argparse.ArgumentTypeError(
        f"unknown state {text!r}; choose from {', '.join(STATE_NAMES)}"
    )


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError("must be from 1 to 10000")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a TCP port from 1 to 65535")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _Parser(argparse.ArgumentParser):
    """No abbreviated options: `--proc 2` must not silently mean `--processes 2` (sub-command
    parsers are made from this class too, since argparse uses the parent's class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stoker",
        description="Background jobs with a full history: server, dashboard and tools.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=os.environ.get("STOKER_LOG_LEVEL", "INFO").upper(),
        help="how much to log (default INFO, or $STOKER_LOG_LEVEL)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_server_parser(commands)
    _add_job_parsers(commands)
    _add_recurring_parsers(commands)
    _add_batch_parsers(commands)
    _add_other_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=args.log_level if args.log_level in LOG_LEVELS else "INFO",
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        result: int = args.handler(args)
        return result
    except (StokerError, ValueError, TypeError, KeyError, OSError, OverflowError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"stoker: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A bug or an unexpected driver error: one line for the user, the traceback for -v.
        logging.getLogger("stoker.cli").debug("unexpected error", exc_info=True)
        print(
            f"stoker: error: {type(exc).__name__}: {exc} (--log-level DEBUG shows the traceback)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
