"""The job server: worker threads, schedulers, heartbeat, watchdog and graceful shutdown."""

from __future__ import annotations

from stoker.server.options import ServerOptions, default_workers
from stoker.server.server import Server, run_forever

__all__ = ["Server", "ServerOptions", "default_workers", "run_forever"]
