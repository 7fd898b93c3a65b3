"""Worker processes: start them in their own sessions, sample their memory, stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil

from benchmarks.peers.adapter import ROOT


class Workers:
    """Running worker commands; `peak_mib` is the largest sum of their trees' PSS seen."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.peak_mib = 0.0
        self._stop = threading.Event()
        with log.open("ab") as out:
            self.children = [
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                for command in commands
            ]
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            total = 0
            for child in self.children:
                with contextlib.suppress(psutil.Error):
                    parent = psutil.Process(child.pid)
                    for process in [parent, *parent.children(recursive=True)]:
                        with contextlib.suppress(psutil.Error):
                            total += process.memory_full_info().pss
            self.peak_mib = max(self.peak_mib, total / 2**20)

    def tail(self, lines: int = 3) -> str:
        """The end of the workers' log, on one line."""
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def check(self) -> None:
        """Raise if a worker process has exited (with the end of the workers' log)."""
        for child in self.children:
            if child.poll() is not None:
                raise RuntimeError(f"worker exited with {child.returncode}: {self.tail()}")

    def stop(self) -> None:
        self._stop.set()
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(8)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # also forked grandchildren left behind
            child.wait()


@contextlib.contextmanager
def running(commands: list[list[str]], env: dict[str, str], log: Path) -> Iterator[Workers]:
    workers = Workers(commands, env, log)
    try:
        yield workers
    finally:
        workers.stop()
