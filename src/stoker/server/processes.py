"""`stoker server --processes N`: N server processes supervised by one parent."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

log = logging.getLogger("stoker.server")
RESTART_DELAY = 1.0


def _child_argv(argv: Sequence[str]) -> list[str]:
    """The same command with --processes removed, so each child is one ordinary server."""
    result: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--processes", "-p"):
            skip = True
            continue
        if arg.startswith("--processes="):
            continue
        result.append(arg)
    return [sys.executable, "-m", "stoker", *result]


def run_processes(count: int, argv: Sequence[str]) -> int:
    """Start `count` servers; forward SIGTERM/SIGINT to them; restart any that dies unasked.

    Each child is a full server with its own id and heartbeat, so if one is killed its jobs are
    requeued by the watchdog of the others exactly as if it ran on another host.
    """
    command = _child_argv(argv)
    children = [subprocess.Popen(command) for _ in range(count)]
    stopping = False
    received = signal.SIGTERM

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping, received
        stopping, received = True, signal.Signals(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(child.poll() is None for child in children) or not stopping:
            for index, child in enumerate(children):
                code = child.poll()
                if code is not None and not stopping:
                    log.error(
                        "server process %d exited with %s; starting a new one", child.pid, code
                    )
                    time.sleep(RESTART_DELAY)
                    if stopping:  # the signal came during the pause: no new child
                        continue
                    children[index] = subprocess.Popen(command)
                    if stopping:  # ... or while starting it, too late for forward() to see it
                        children[index].send_signal(received)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max((child.returncode or 0) for child in children)
