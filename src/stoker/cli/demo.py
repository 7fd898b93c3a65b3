"""`stoker demo`: a server on embedded SQLite working through example jobs, printed live."""

from __future__ import annotations

import time
from datetime import timedelta

from stoker.app import App
from stoker.cli import demo_jobs

DEMO_URL = "sqlite:///stoker-demo.db"


def _enqueue_examples(app: App) -> dict[str, str]:
    jobs = {
        "greet": app.enqueue(demo_jobs.greet, "world"),
        "resize": app.enqueue(demo_jobs.resize_images, 5),
        "payment": app.enqueue(demo_jobs.flaky_payment, 4711),
        "report": app.enqueue(demo_jobs.broken_report),
        "rates": app.enqueue(demo_jobs.fetch_rates, "EUR"),
        "delayed": app.enqueue_in(timedelta(seconds=3), demo_jobs.greet, "future"),
    }
    jobs["continuation"] = app.continue_with(jobs["resize"], demo_jobs.notify_team, "images ready")
    app.recurring.add_or_update("demo-every-5s", "*/5 * * * * *", demo_jobs.greet, "cron")
    return jobs


def run_demo(seconds: float = 20.0) -> int:
    """Run the demo for `seconds`, printing each job's state as it changes."""
    app = App(DEMO_URL)
    print(f"stoker demo: storage {DEMO_URL}; jobs run for {seconds:.0f} s. Ctrl-C stops.")
    seen: dict[str, str] = {}
    try:
        with app.server(workers=4, queues=["default"]):
            jobs = _enqueue_examples(app)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                _print_changes(app, jobs, seen)
                time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopped")
    finally:
        app.recurring.remove("demo-every-5s")
        app.close()
    print("Inspect a job: stoker jobs show ID --storage " + DEMO_URL)
    return 0


def _print_changes(app: App, jobs: dict[str, str], seen: dict[str, str]) -> None:
    for label, job_id in jobs.items():
        info = app.get_job(job_id)
        if info is None:
            continue
        last = info.history[-1]
        key = f"{info.state}:{len(info.history)}"
        if seen.get(job_id) == key:
            continue
        seen[job_id] = key
        detail = f" - {last.reason}" if last.reason else ""
        if info.state == "Succeeded":
            detail += f" -> {info.result!r}"
        print(f"[{last.created_at:%H:%M:%S}] job {job_id:>4} {label:<12} {info.state}{detail}")
