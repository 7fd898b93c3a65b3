"""A local SMTP sink (aiosmtpd) that keeps received mails in memory for the mailbox page."""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

MAX_KEPT = 200  # the demo may run for days; keep memory bounded


@dataclass(frozen=True)
class ReceivedMail:
    number: int  # 1, 2, 3, ... in order of arrival
    received_at: datetime
    mail_from: str
    to: tuple[str, ...]
    subject: str
    text: str
    message_id: str


class MailboxError(RuntimeError):
    """The sink could not start (most often: the port is taken)."""


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if isinstance(body, EmailMessage) else ""


class Mailbox:
    """An SMTP server on host:port that accepts every mail; start and stop it at will (tests
    stop it to play an SMTP outage). Received mails survive a stop/start."""

    def __init__(
        self, host: str, port: int, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.host = host
        self.port = port
        self._now = now  # the application's clock, so that times on its pages agree
        self._mails: deque[ReceivedMail] = deque(maxlen=MAX_KEPT)
        self._count = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        # Probe first: aiosmtpd reports a taken port only after its ready timeout (10 s).
        try:
            with socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self.host, self.port))
        except OSError as exc:
            raise self._error(exc) from exc
        controller = Controller(self, hostname=self.host, port=self.port, ready_timeout=10)
        try:
            controller.start()
        except Exception as exc:
            controller.loop.close()  # its thread ended without closing it
            raise self._error(exc) from exc
        self._controller = controller

    def _error(self, exc: Exception) -> MailboxError:
        return MailboxError(
            f"the SMTP sink cannot listen on {self.host}:{self.port}: {exc}; "
            "change smtp.port in appsettings.json (or stop what uses the port)"
        )

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: one mail arrived."""
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self._count += 1
            self._mails.append(
                ReceivedMail(
                    number=self._count,
                    received_at=self._now(),
                    mail_from=str(message.get("From") or envelope.mail_from),
                    to=tuple(str(rcpt) for rcpt in envelope.rcpt_tos),
                    subject=str(message.get("Subject", "")),
                    text=_text_of(message),
                    message_id=str(message.get("Message-ID", "")),
                )
            )
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def mails(self) -> list[ReceivedMail]:
        """Received mails, newest first."""
        with self._lock:
            return list(reversed(self._mails))

    @property
    def count(self) -> int:
        """How many mails arrived since start-up (also those no longer kept)."""
        with self._lock:
            return self._count

    def wait_for_count(self, count: int, timeout: float) -> bool:
        """Block until at least `count` mails arrived; False after `timeout` seconds."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._count >= count, timeout)
