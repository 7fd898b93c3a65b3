"""`stoker server`: its options, and the supervisor of `--processes N`, which loads nothing else.

A separate module from stoker.cli.commands so that the supervisor process (it only starts,
watches and signals its children) does not import the App, the client or a storage driver:
measured, its PSS went from 13.2 to 10.5 MiB (benchmarks/README.md, fifth round).
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import TYPE_CHECKING

from stoker.server.options import ServerOptions

if TYPE_CHECKING:
    from stoker.app import App


def server_options(args: argparse.Namespace) -> ServerOptions:
    queues = [queue.strip() for queue in args.queues.split(",") if queue.strip()]
    return ServerOptions(
        queues=queues,
        workers=args.workers,
        concurrency=args.concurrency,
        name=args.name,
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
        server_timeout=args.server_timeout,
        shutdown_timeout=args.shutdown_timeout,
        scheduler_interval=args.scheduler_interval,
        statistics_interval=args.statistics_interval,
        schedulers=not args.no_schedulers,
    )


def run_server(args: argparse.Namespace) -> int:
    options = server_options(args)  # validate before starting anything
    if args.processes < 1 or args.processes > 64:
        raise ValueError(f"--processes must be from 1 to 64, got {args.processes}")
    if args.metrics_port is not None and importlib.util.find_spec("prometheus_client") is None:
        raise ValueError("--metrics-port needs prometheus_client: pip install 'stoker[metrics]'")
    from stoker.server.processes import forget_child_marker, is_supervised_child

    supervised = is_supervised_child()
    if supervised:  # one of the N: an ordinary server, whatever --processes says
        forget_child_marker()
    elif args.processes > 1:
        return _supervise(args)
    from stoker.cli.commands import load_app

    app = load_app(args)
    try:
        if args.metrics_port is not None:
            _expose_metrics(app, args, supervised)
        app.run_server(**{f: getattr(options, f) for f in options.__dataclass_fields__})
    finally:
        app.close()
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """Run the N server processes; with --metrics-port, serve their figures added up."""
    from stoker.server.processes import run_processes

    if args.metrics_port is None:
        return run_processes(args.processes, args.argv)
    from stoker.metrics.supervisor import aggregated_metrics

    with aggregated_metrics(args.metrics_port, args.metrics_address):
        return run_processes(args.processes, args.argv)


def _expose_metrics(app: App, args: argparse.Namespace, supervised: bool) -> None:
    """Count this server's job events; serve them, or (one of N) write them for the parent."""
    from stoker.metrics import SnapshotPublisher, instrument

    metrics = instrument(app)
    if not supervised:
        metrics.serve(args.metrics_port, args.metrics_address)
    elif metrics.multiprocess_dir is not None:
        # The parent cannot read the storage: the children keep its gauges up to date.
        SnapshotPublisher(app.storage).start()
