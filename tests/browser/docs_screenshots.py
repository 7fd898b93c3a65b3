"""Regenerate the README's dashboard screenshots in docs/ (not a test; run it by hand):

    .venv/bin/python -m tests.browser.docs_screenshots [STORAGE_URL]

A real embedded server runs demo jobs (successes, a retried failure, a running job with progress
and log lines, recurring jobs). The 24 h / 7 d charts also get synthetic per-hour counters for the
past, written with the statistics filter's keys, so that the picture shows what a day looks like.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import stoker
from stoker.core.filters.statistics import DAILY_KEEP, HOURLY_KEEP, stats_keys
from stoker.core.records import CounterIncrement, StateChange
from stoker.core.states import Deleted
from tests.browser.conftest import CHROMIUM, SERVER_OPTIONS
from tests.dashboard import dashboard_jobs as jobs

DOCS = Path(__file__).resolve().parents[2] / "docs"


def seed(app: stoker.App) -> tuple[str, str]:
    """Demo jobs; returns (a running job's id, a failed job's id)."""
    for n in range(40):
        app.enqueue(jobs.send_welcome_email, f"user{n}@example.com")
    failed = app.with_options(retries=0).enqueue(jobs.always_fail, "SMTP server said: 421 busy")
    app.with_options(retries=3, retry_delays=[600]).enqueue(jobs.always_fail, "timeout")
    mail = app.with_options(queue="mail")
    for n in range(7):
        mail.enqueue(jobs.send_welcome_email, f"later{n}@example.com")
    parent = app.enqueue_in(timedelta(minutes=10), jobs.add, 1, 2)
    app.continue_with(parent, jobs.send_welcome_email, "admin@example.com")
    app.recurring.add_or_update("db-backup", "0 3 * * *", jobs.add, 1, 1, tz="Europe/Istanbul")
    app.recurring.add_or_update("cleanup", "*/15 * * * *", jobs.add, 2, 2)
    jobs.RELEASE.clear()
    running = app.enqueue(jobs.report_progress_until_released)
    return running, failed


def past_activity(app: stoker.App, job_id: str) -> None:
    now = app.clock.now()
    increments: list[CounterIncrement] = []
    for hours_ago in range(1, 24 * 7):
        moment = now - timedelta(hours=hours_ago)
        busy = 40 + (hours_ago * 37) % 60 if 7 <= moment.hour <= 22 else 5 + hours_ago % 7
        for kind, count in (("succeeded", busy), ("failed", (hours_ago * 5) % 4)):
            total, hourly, daily = stats_keys(kind, moment)
            increments += [
                CounterIncrement(total, count),
                CounterIncrement(hourly, count, now + HOURLY_KEEP),
                CounterIncrement(daily, count, now + DAILY_KEEP),
            ]
    # Carried by a harmless state change of a demo job (counters ride on state changes).
    app.storage.change_state(
        StateChange(job_id, Deleted(reason="demo").to_record(now), counters=tuple(increments))
    )


def main(url: str) -> None:
    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    from stoker.dashboard import create_app

    app = stoker.App(url)
    with app.server(**SERVER_OPTIONS):
        running, failed = seed(app)
        extra = app.with_options(queue="parked").enqueue(jobs.add, 0, 0)
        past_activity(app, extra)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(app), log_level="warning"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        DOCS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--disable-gpu", "--disable-quic"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{base}/")
            expect(page.locator("#realtime-chart polyline")).to_have_count(2, timeout=10_000)
            # Jobs flowing while the realtime chart collects a few points.
            for _ in range(60):
                app.enqueue_many(jobs.add, [(1, 2)] * 8)
                app.with_options(retries=0).enqueue(jobs.always_fail, "flaky upstream")
                page.wait_for_timeout(100)
            page.screenshot(path=str(DOCS / "dashboard-overview.png"))
            page.goto(f"{base}/job/{running}")
            expect(page.locator("#job-log")).to_contain_text("started")
            page.screenshot(path=str(DOCS / "dashboard-running-job.png"))
            page.goto(f"{base}/job/{failed}")
            page.click("summary:has-text('Traceback')")
            page.emulate_media(color_scheme="dark")
            page.evaluate("document.documentElement.setAttribute('data-theme', 'dark')")
            page.screenshot(path=str(DOCS / "dashboard-failed-job-dark.png"))
            browser.close()
        jobs.RELEASE.set()
        server.should_exit = True
    app.close()


if __name__ == "__main__":
    default = f"sqlite:///{tempfile.mkdtemp()}/docs.db"
    main(sys.argv[1] if len(sys.argv) > 1 else default)
