"""The job server: worker threads, schedulers, heartbeat, watchdog and graceful shutdown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stoker.server.options import ServerOptions, ServerSettings, default_workers

if TYPE_CHECKING:
    from stoker.server.server import Server, run_forever

__all__ = ["Server", "ServerOptions", "ServerSettings", "default_workers", "run_forever"]


def __getattr__(name: str) -> Any:
    # The server itself is imported on first use: the supervisor of `--processes N` reads
    # only the options, and never runs a job.
    if name in ("Server", "run_forever"):
        from stoker.server import server

        return getattr(server, name)
    raise AttributeError(f"module 'stoker.server' has no attribute {name!r}")
