"""The job server: worker threads, schedulers, heartbeat, watchdog and graceful shutdown."""

from __future__ import annotations

from stoker.server.options import ServerOptions, ServerSettings, default_workers
from stoker.server.server import Server, run_forever

__all__ = ["Server", "ServerOptions", "ServerSettings", "default_workers", "run_forever"]
