"""The sample as people run it: `python -m examples.registration`, and separate worker processes."""

from __future__ import annotations

import os
import queue
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import IO

import pytest

import stoker
from examples.registration.settings import Settings
from examples.registration.system import Registration
from tests.examples.conftest import settings_document, wait_for_state, write_settings

REPO = Path(__file__).resolve().parents[2]
Start = Callable[..., Registration]
MakeSettings = Callable[..., Settings]


class Output:
    """A child's merged stdout/stderr, read line by line in a thread (so reads can time out)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=timeout))
            except queue.Empty:
                pytest.fail(f"no {text!r} in the output within {timeout} s:\n{''.join(self.seen)}")


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        status: int = response.status
        return status


def port_is_free(port: int) -> bool:
    """Free for a restart (which, like the command, binds with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_command_starts_everything_prints_the_urls_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: int
) -> None:
    document = settings_document(tmp_path, f"sqlite:///{tmp_path}/stoker.db")
    path = write_settings(tmp_path, document)
    web, smtp = document["web"]["port"], document["smtp"]["port"]
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.registration", "--settings", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        output.wait_for("dashboard  http://127.0.0.1:")
        base = f"http://127.0.0.1:{web}"
        assert any(f"app        {base}/" in line for line in output.seen)
        assert get(f"{base}/") == get(f"{base}/mailbox") == get(f"{base}/stoker/") == 200
        message = EmailMessage()
        message["Subject"] = "ping"
        message.set_content("the sink is up")
        with smtplib.SMTP("127.0.0.1", smtp, timeout=5) as client:
            client.send_message(message, "a@example.com", ["b@example.com"])
        with stoker.App(f"sqlite:///{tmp_path}/stoker.db") as app:
            assert len(app.storage.list_servers()) == 1
        process.send_signal(signum)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output.wait_for("stopped")
    with stoker.App(f"sqlite:///{tmp_path}/stoker.db") as app:
        assert app.storage.list_servers() == []  # the server unregistered itself
    assert port_is_free(web)
    assert port_is_free(smtp)


@pytest.mark.slow
def test_with_no_embedded_workers_a_stoker_server_process_sends_the_mail(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url, activation={"delay_seconds": 0}, server={"workers": 0})
    registration = start_registration(settings, workers=0)
    assert registration.server is None
    command = [sys.executable, "-m", "stoker", "server", "--app"]
    command += ["examples.registration.worker:app", "--queues", "mail,backup", "--workers", "2"]
    command += ["--poll-interval", "0.2", "--scheduler-interval", "0.2"]
    env = {**os.environ, "REGISTRATION_SETTINGS": str(settings.files[0])}
    worker = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = Output(worker)
    try:
        output.wait_for("started")
        user = registration.register("Ada Lovelace", "ada@example.com")
        assert user.activation_job_id is not None
        mailbox = registration.mailbox
        assert mailbox is not None
        assert mailbox.wait_for_count(1, timeout=20)
        done = wait_for_state(registration.stoker, user.activation_job_id, "Succeeded")
        processing = next(entry for entry in done.history if entry.name == "Processing")
        assert f":{worker.pid}:" in str(processing.data["server_id"])
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
