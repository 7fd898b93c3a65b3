"""`python manage.py stoker_server`: a stoker job server with the project's settings loaded."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from stoker.contrib.django.conf import get_app, stoker_settings

# Command-line option -> ServerSettings key; a given option wins over STOKER["server"].
OPTIONS = {
    "queues": "queues",
    "workers": "workers",
    "concurrency": "concurrency",
    "name": "name",
    "poll_interval": "poll_interval",
    "shutdown_timeout": "shutdown_timeout",
    "scheduler_interval": "scheduler_interval",
}


class Command(BaseCommand):
    help = (
        "Run a stoker job server until SIGTERM/SIGINT, on settings.STOKER's storage; jobs run "
        "in this process with Django set up, so they may use the ORM."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--queues", "-q", help="comma-separated, highest priority first")
        parser.add_argument("--workers", "-w", type=int, help="worker threads for `def` jobs")
        parser.add_argument("--concurrency", "-c", type=int, help="`async def` jobs in flight")
        parser.add_argument("--name", help="server name shown in the dashboard")
        parser.add_argument("--poll-interval", type=float, help="longest idle wait in seconds")
        parser.add_argument(
            "--shutdown-timeout", type=float, help="seconds running jobs get to finish on SIGTERM"
        )
        parser.add_argument(
            "--scheduler-interval", type=float, help="seconds between scheduler polls"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        settings: dict[str, Any] = dict(stoker_settings().server)
        for option, key in OPTIONS.items():
            if options.get(option) is not None:
                settings[key] = options[option]
        if isinstance(settings.get("queues"), str):
            settings["queues"] = [q.strip() for q in settings["queues"].split(",") if q.strip()]
        self.stdout.write(f"stoker server: queues {', '.join(settings.get('queues', ['default']))}")
        self.stdout.flush()
        get_app().run_server(**settings)
