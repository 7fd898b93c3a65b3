"""The `stoker` command line: server, dashboard, enqueue, jobs, recurring and demo."""

from __future__ import annotations

from stoker.cli.main import main

__all__ = ["main"]
