"""`python -m examples.registration`: web app, SMTP sink and stoker server until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import uvicorn

from examples.registration.mailbox import MailboxError
from examples.registration.settings import DEFAULT_SETTINGS, Settings, SettingsError, load_settings
from examples.registration.system import Registration
from examples.registration.web import DASHBOARD, create_web_app
from stoker.storage import redact_url

log = logging.getLogger("examples.registration")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.registration",
        description="The stoker registration sample: a web app whose delayed job mails an "
        "activation link, a recurring database backup, and the stoker dashboard at /stoker.",
    )
    parser.add_argument(
        "--settings",
        default=str(DEFAULT_SETTINGS),
        help="the settings file (default: %(default)s)",
    )
    parser.add_argument(
        "--env",
        metavar="NAME",
        help="also read appsettings.NAME.json beside the settings file, on top of it "
        "(e.g. --env demo: 30 s activation delay, a backup every minute)",
    )
    parser.add_argument("--port", type=int, help="web port (overrides web.port)")
    return parser.parse_args(argv)


def bind(settings: Settings) -> socket.socket:
    """The web server's listening socket, bound now so a taken port is a clear start-up error."""
    host, port = settings.web.host, settings.web.port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise settings.error(
            "web.port", f"cannot listen on {host}:{port} ({exc.strerror}); change it or pass --port"
        ) from None
    return sock


class Signals:
    """The first SIGINT/SIGTERM asks for a graceful stop, a second one for an immediate one."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.force = threading.Event()
        self._previous: dict[int, object] = {}

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stop.is_set():
            print(f"\n{name} again: stopping now", flush=True)
            self.force.set()
        else:
            print(f"\n{name}: stopping (press Ctrl-C again to stop at once)", flush=True)
            self.stop.set()

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


class WebServer:
    """uvicorn in a thread, so that the main thread keeps the signals and the shutdown order."""

    def __init__(self, registration: Registration, sock: socket.socket) -> None:
        config = uvicorn.Config(
            create_web_app(registration),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
        )

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            raise RuntimeError("the web server did not start; see the messages above")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def print_urls(settings: Settings, registration: Registration) -> None:
    base = settings.web.base_url
    lines = [
        f"stoker registration sample (storage {redact_url(settings.storage)})",
        f"  app        {base}/",
        f"  mailbox    {base}/mailbox",
        f"  backups    {base}/backups",
        f"  dashboard  {base}{DASHBOARD}/",
    ]
    smtp = settings.smtp
    sink = "local sink" if registration.mailbox is not None else "external server"
    lines.append(f"  SMTP       {smtp.host}:{smtp.port} ({sink})")
    lines.append(
        f"Activation e-mails go out {settings.activation.delay_seconds:g} s after registering; "
        f"backups run on '{settings.backup.cron}' ({settings.backup.timezone}). Ctrl-C stops."
    )
    print("\n".join(lines), flush=True)


def shut_down(registration: Registration, signals: Signals) -> None:
    """Stop gracefully in a helper thread, so that a second signal can still cut it short."""
    stopper = threading.Thread(target=registration.stop, name="registration-stop", daemon=True)
    stopper.start()
    while stopper.is_alive():
        if signals.force.wait(0.1):
            registration.kill()  # running jobs go back to their queues at once
            return


def run(settings: Settings) -> int:
    sock = bind(settings)
    registration = Registration(settings)
    signals = Signals()
    signals.install()
    web: WebServer | None = None
    try:
        registration.start()
        web = WebServer(registration, sock)
        web.start()
        print_urls(settings, registration)
        while not signals.stop.wait(0.5):
            if not web.thread.is_alive():
                log.error("the web server stopped unexpectedly")
                return 1
        return 0
    finally:
        if web is not None:
            web.stop()
        sock.close()
        shut_down(registration, signals)
        signals.restore()
        print("stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    try:
        settings = load_settings(args.settings, args.env)
        if args.port is not None:
            settings = settings.with_port(args.port)
        return run(settings)
    except (SettingsError, MailboxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
