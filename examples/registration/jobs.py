"""The application's stoker jobs: send the activation e-mail, back up the database.

stoker stores a job as an import path plus JSON arguments, and a worker (maybe in another
process) imports the function to run it. So the arguments carry only what identifies the work
(a user id; the backup's source, folder and count), and the e-mail job reads the rest of its
configuration (SMTP server, database, public URL) from the settings of the process it runs in:
`configure()` for an embedded server, else $REGISTRATION_SETTINGS (see worker.py).
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import stoker
from examples.registration import backup, mail
from examples.registration.settings import DEFAULT_SETTINGS, Settings, load_settings
from examples.registration.users import UserStore

_settings: Settings | None = None
_settings_lock = threading.Lock()


def configure(settings: Settings | None) -> None:
    """The settings jobs of this process use (called at start-up; None forgets them)."""
    global _settings
    with _settings_lock:
        _settings = settings


def active_settings() -> Settings:
    """The configured settings, else those named by $REGISTRATION_SETTINGS (and
    $REGISTRATION_ENVIRONMENT), else the package's appsettings.json."""
    global _settings
    with _settings_lock:
        if _settings is None:
            path = os.environ.get("REGISTRATION_SETTINGS") or DEFAULT_SETTINGS
            _settings = load_settings(path, os.environ.get("REGISTRATION_ENVIRONMENT") or None)
        return _settings


# Retries and their delays come from appsettings.json (activation.*) through with_options at
# enqueue time; without them stoker's default (10 attempts, growing back-off) applies.
@stoker.job(queue="mail", timeout=timedelta(minutes=5))
def send_activation_email(user_id: int) -> dict[str, Any]:
    """Mail the activation link to user `user_id`. SMTP trouble raises, so stoker retries."""
    job = stoker.current_job()
    settings = active_settings()
    users = UserStore(settings.database)
    user = users.get(user_id)
    if user is None:
        job.log(f"user {user_id} does not exist (any more): nothing to send")
        return {"sent": False, "reason": "no such user"}
    if user.active:
        job.log(f"user {user_id} is already active: no mail needed")
        return {"sent": False, "reason": "already active"}
    smtp = settings.smtp
    if job.retry_count:
        job.log(f"attempt {job.retry_count + 1} (earlier attempts failed, see the history)")
    job.log(f"sending the activation mail to {user.email} via SMTP {smtp.host}:{smtp.port}")
    link = mail.activation_link(settings.web.base_url, user)
    mail.send(mail.activation_message(user, link, smtp.sender, job.now()), smtp)
    # At-least-once: if this process dies right here the job runs again and a second, identical
    # mail (same Message-ID) is sent. That is the safe side: a lost mail would lock the user out.
    users.mark_mail_sent(user_id, job.now())
    job.log("the SMTP server accepted the mail")
    return {"sent": True, "to": user.email, "smtp": f"{smtp.host}:{smtp.port}"}


@stoker.job(queue="backup", retries=3, retry_delays=[60, 300, 900], timeout=timedelta(hours=1))
def backup_database(source: str, folder: str, keep: int) -> dict[str, Any]:
    """Back up the SQLite database `source` into `folder` and keep the newest `keep` backups."""
    job = stoker.current_job()
    source_path, folder_path = Path(source), Path(folder)
    job.log(f"backing up {source_path} into {folder_path} with SQLite's online backup API")
    job.progress(0.1)
    taken, pages = backup.take_backup(source_path, folder_path, job.now())
    job.log(
        f"wrote {taken.path.name}: {taken.bytes} bytes ({pages} pages), PRAGMA integrity_check: ok"
    )
    job.progress(0.8)
    removed = backup.prune(source_path, folder_path, keep, job.log)
    job.log(f"keeping the newest {keep} backups; removed {len(removed)}")
    job.progress(1.0)
    return {
        "file": taken.path.name,
        "folder": str(folder_path),
        "bytes": taken.bytes,
        "pages": pages,
        "integrity_check": "ok",
        "removed": removed,
    }
