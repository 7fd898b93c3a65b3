"""The application put together: settings → stoker App, users, SMTP sink, server; use cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any

import stoker
from examples.registration import jobs
from examples.registration.backup import BackupFile, list_backups
from examples.registration.mailbox import Mailbox
from examples.registration.settings import Settings
from examples.registration.users import User, UserStore
from stoker.core.records import RecurringRecord
from stoker.server import Server
from stoker.storage import redact_url

BACKUP_JOB_ID = "db-backup"
QUEUES = ("mail", "backup")
JOBS_MODULE = "examples.registration.jobs"


@dataclass(frozen=True)
class ActivationStatus:
    """What the users table says about a user's activation."""

    label: str
    css: str  # pending | sending | retrying | sent | active | failed
    job_state: str | None


def open_stoker(settings: Settings, clock: stoker.Clock | None = None) -> stoker.App:
    """The stoker App on the configured storage, checked to answer now (not at the first job)."""
    try:
        app = stoker.App(settings.storage, clock=clock, allowed_modules=[JOBS_MODULE])
    except Exception as exc:
        shown = redact_url(settings.storage)
        raise settings.error("storage", f"cannot open {shown}: {exc}") from exc
    try:
        app.storage.list_servers()
    except Exception as exc:
        app.close()
        shown = redact_url(settings.storage)
        raise settings.error("storage", f"{shown} does not answer: {exc}") from exc
    return app


class Registration:
    """The registration application: everything `python -m examples.registration` runs except
    the web server itself (see web.py). Usable as a context manager; tests build it directly."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: stoker.Clock | None = None,
        server_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        jobs.configure(settings)
        self.users = UserStore(settings.database)
        try:
            self.users.create_schema()
        except Exception as exc:
            raise settings.error("database", f"cannot use {settings.database}: {exc}") from exc
        self.stoker = open_stoker(settings, clock)
        smtp = settings.smtp
        self.mailbox = (
            Mailbox(smtp.host, smtp.port, self.stoker.clock.now) if smtp.local_sink else None
        )
        self._server_options = {"workers": settings.workers, "queues": list(QUEUES)}
        self._server_options.update(server_options or {})
        self.server: Server | None = None
        try:
            self.schedule_backups()
        except Exception:
            self.stoker.close()
            raise

    # --- lifecycle ------------------------------------------------------------------------------
    def schedule_backups(self) -> None:
        """Define (or update, after a settings change) the recurring backup job."""
        backup = self.settings.backup
        self.stoker.recurring.add_or_update(
            BACKUP_JOB_ID,
            backup.cron,
            jobs.backup_database,
            str(backup.source),
            str(backup.folder),
            keep=backup.keep,
            tz=backup.timezone,
        )

    def start(self) -> Registration:
        """Start the SMTP sink (if configured) and an embedded stoker server."""
        if self.mailbox is not None:
            self.mailbox.start()
        if self._server_options["workers"]:  # 0: jobs run in separate `stoker server` processes
            self.server = self.stoker.server(**self._server_options).start()
        return self

    def stop(self) -> None:
        """Stop the server (running jobs get its shutdown timeout), the sink, the storage."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()
        if self.mailbox is not None:
            self.mailbox.stop()
        self.stoker.close()

    def kill(self) -> None:
        """Stop the server at once: running jobs are returned to their queues."""
        server = self.server
        if server is not None:
            server.kill()

    def __enter__(self) -> Registration:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- use cases ------------------------------------------------------------------------------
    def register(self, name: str, email: str) -> User:
        """Store the user and schedule the activation e-mail after the configured delay."""
        activation = self.settings.activation
        user = self.users.register(name, email, self.stoker.clock.now())
        client = self.stoker.with_options(
            retries=activation.retries, retry_delays=activation.retry_delays_seconds
        )
        try:
            job_id = client.enqueue_in(
                timedelta(seconds=activation.delay_seconds), jobs.send_activation_email, user.id
            )
        except Exception:
            # Two databases, no shared transaction: undo the user rather than keep one who
            # would never get a mail (they can register again once the storage is back).
            self.users.remove(user.id)
            raise
        self.users.set_activation_job(user.id, job_id)
        found = self.users.get(user.id)
        assert found is not None
        return found

    def activate(self, token: str) -> User | None:
        return self.users.activate(token, self.stoker.clock.now())

    def activation_status(self, user: User) -> ActivationStatus:
        if user.active:
            return ActivationStatus("Active", "active", None)
        info = self.stoker.get_job(user.activation_job_id) if user.activation_job_id else None
        if info is None:  # finished jobs expire after a day; the user row remembers the mail
            sent = user.mail_sent_at is not None
            return ActivationStatus(
                "E-mail sent, not activated yet" if sent else "No e-mail", "sent", None
            )
        if info.state == "Scheduled" and info.retry_count:
            label = f"Sending failed; retry {info.retry_count} scheduled"
            return ActivationStatus(label, "retrying", info.state)
        labels = {
            "Scheduled": ("E-mail scheduled", "pending"),
            "Enqueued": ("Sending e-mail", "sending"),
            "Processing": ("Sending e-mail", "sending"),
            "Succeeded": ("E-mail sent, not activated yet", "sent"),
            "Failed": ("Sending failed", "failed"),
            "Deleted": ("E-mail cancelled", "failed"),
            "Awaiting": ("E-mail waiting", "pending"),
        }
        label, css = labels.get(info.state, (info.state, "pending"))
        return ActivationStatus(label, css, info.state)

    def backups(self) -> list[BackupFile]:
        backup = self.settings.backup
        return list_backups(backup.source, backup.folder)

    def backup_job(self) -> RecurringRecord | None:
        return self.stoker.recurring.get(BACKUP_JOB_ID)

    def back_up_now(self) -> str:
        """Run the recurring backup now, outside its schedule; returns the job id."""
        return self.stoker.recurring.trigger(BACKUP_JOB_ID)
