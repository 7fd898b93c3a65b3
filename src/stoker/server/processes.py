"""`stoker server --processes N`: N server processes supervised by one parent."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from stoker.core.log_fields import log_fields

log = logging.getLogger("stoker.server")
RESTART_DELAY = 1.0


# Set in each child's environment to the supervisor's pid. A child is told that it is one by
# this marker, not by removing --processes from its command line: argparse accepts spellings
# (`-p2`) that such surgery misses, and a missed one made every child a supervisor in turn.
CHILD_MARKER = "STOKER_SUPERVISOR_PID"


def is_supervised_child() -> bool:
    """Whether this process is a server started by `run_processes` (its parent set the marker;
    the pid check keeps a process that merely inherited the variable from being taken for one).
    """
    return os.environ.get(CHILD_MARKER) == str(os.getppid())


def forget_child_marker() -> None:
    """Drop the marker, so that processes the jobs start do not inherit it."""
    os.environ.pop(CHILD_MARKER, None)


def _start_child(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, CHILD_MARKER: str(os.getpid())}
    return subprocess.Popen([sys.executable, "-m", "stoker", *argv], env=env)


def run_processes(count: int, argv: Sequence[str]) -> int:
    """Start `count` servers; forward SIGTERM/SIGINT to them; restart any that dies unasked.

    Each child is a full server with its own id and heartbeat, so if one is killed its jobs are
    requeued by the watchdog of the others exactly as if it ran on another host.
    """
    children = [_start_child(argv) for _ in range(count)]
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
                        "server process %d exited with %s; starting a new one",
                        child.pid,
                        code,
                        extra=log_fields(None),  # the supervisor is no server itself
                    )
                    time.sleep(RESTART_DELAY)
                    if stopping:  # the signal came during the pause: no new child
                        continue
                    children[index] = _start_child(argv)
                    if stopping:  # ... or while starting it, too late for forward() to see it
                        children[index].send_signal(received)
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max((child.returncode or 0) for child in children)
