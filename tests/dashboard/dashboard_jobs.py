"""Job functions the dashboard tests enqueue (importable by path, as stoker requires)."""

from __future__ import annotations

import threading

import stoker

# Set by a test to let `wait_until_released` finish; a job blocks on it while a test looks at it.
RELEASE = threading.Event()
ATTEMPTS: dict[str, int] = {}


def add(a: int, b: int) -> int:
    return a + b


def send_welcome_email(address: str) -> str:
    return f"sent to {address}"


def fail_first_time(key: str) -> str:
    """Raises on its first run and succeeds when run again (requeued from the dashboard)."""
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise ValueError(f"first attempt of {key} fails <on purpose>")
    return "second time lucky"


def always_fail(message: str) -> None:
    raise RuntimeError(message)


def report_progress_until_released() -> str:
    """Reports progress and log lines, then waits (cancellable) until the test releases it."""
    job = stoker.current_job()
    job.progress(0.25)
    job.log("started <work>")
    while not RELEASE.wait(0.05):
        if job.cancelled:
            return "cancelled"
    job.progress(1.0)
    return "released"


def log_and_return(text: str) -> str:
    """Writes `text` to the job's log lines and returns it (for escaping tests)."""
    stoker.current_job().log(text)
    return text


# Set by a test to move `progress_in_steps` from 25% to 75%, then to let it finish.
STEP = threading.Event()


def progress_in_steps() -> str:
    """Reports 25%, waits for STEP, reports 75%, waits for RELEASE (both cancellable)."""
    job = stoker.current_job()
    job.progress(0.25)
    while not STEP.wait(0.05):
        if job.cancelled:
            return "cancelled"
    job.progress(0.75)
    while not RELEASE.wait(0.05):
        if job.cancelled:
            return "cancelled"
    return "done"


def send_monthly_subscription_invoice_reminders_to_every_customer(segment: str) -> str:
    """A job with a long name, as real ones have (layout tests)."""
    return segment
