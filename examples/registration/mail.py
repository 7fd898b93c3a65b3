"""The activation e-mail: compose it and hand it to the configured SMTP server (smtplib)."""

from __future__ import annotations

import smtplib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from examples.registration.settings import SmtpSettings
from examples.registration.users import User

SUBJECT = "Activate your account"


def activation_link(base_url: str, user: User) -> str:
    return f"{base_url}/activate/{user.token}"


def activation_message(user: User, link: str, sender: str, now: datetime) -> EmailMessage:
    """The mail for `user`. Its Message-ID is derived from the user, so that if the job runs
    twice (stoker runs a job at least once) a mail client can tell the copies are one mail."""
    message = EmailMessage()
    message["From"] = sender
    # Address() quotes the display name: a name cannot smuggle in headers or extra recipients.
    message["To"] = Address(display_name=user.name, addr_spec=user.email)
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(now)
    stamp = int(user.registered_at.timestamp())
    message["Message-ID"] = f"<activation-{user.id}-{stamp}@registration.example.test>"
    message.set_content(
        f"Hello {user.name},\n\n"
        "thank you for registering. Please activate your account by opening this link:\n\n"
        f"{link}\n\n"
        "If you did not register, ignore this mail.\n"
    )
    return message


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Deliver over SMTP. Any failure (refused connection, timeout, 4xx/5xx reply) raises an
    OSError subclass, which fails the job; stoker's retry filter schedules the next attempt."""
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds) as client:
        client.send_message(message)
