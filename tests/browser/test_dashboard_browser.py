"""The dashboard in headless Chromium: tabs, clicks on actions, live parts, themes, screenshots."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

import stoker
from tests.browser.conftest import MOUNT
from tests.dashboard import dashboard_jobs as jobs

PARKED = "parked"  # no server listens on it: its jobs stay Enqueued


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def wait_state(page: Page, app: stoker.App, job_id: str, state: str) -> None:
    """Open the job's page; its script reloads it when the state changes, so `expect` waits."""
    page.goto(f"{MOUNT}/job/{job_id}")
    expect(page.locator("#job")).to_have_attribute("data-state", state, timeout=15_000)


def test_every_tab_opens_from_the_navigation(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    browser_app.with_options(queue=PARKED).enqueue(jobs.add, 1, 2)
    page.goto(f"{MOUNT}/")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#realtime-chart polyline")).to_have_count(2)  # drawn by our JS
    shot(page, artifacts, "overview")
    page.click("nav.mainnav >> text=Jobs")
    expect(page).to_have_url(re.compile(r"/stoker/jobs/enqueued$"))
    for state in ("Scheduled", "Processing", "Succeeded", "Failed", "Deleted", "Awaiting"):
        page.click(f"aside.sidebar >> text={state}")
        expect(page.locator("h1 .state")).to_have_text(state)
        shot(page, artifacts, f"jobs-{state.lower()}")
    for tab, heading in (
        ("Retries", "Retries"),
        ("Recurring Jobs", "Recurring jobs"),
        ("Servers", "Servers"),
    ):
        page.click(f"nav.mainnav >> text={tab}")
        expect(page.locator("h1")).to_contain_text(heading)
        shot(page, artifacts, tab.lower().replace(" ", "-"))
    expect(page.locator("#servers-table .pill-alive")).to_have_count(1)


def test_requeue_a_failed_job_and_see_it_succeed(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    job_id = browser_app.with_options(retries=0).enqueue(
        jobs.fail_first_time, f"browser-{uuid.uuid4().hex}"
    )
    wait_state(page, browser_app, job_id, "Failed")
    expect(page.locator(".exception")).to_contain_text("fails <on purpose>")
    page.click("summary:has-text('Traceback')")
    expect(page.locator("pre.traceback").first).to_be_visible()
    shot(page, artifacts, "job-failed")
    page.goto(f"{MOUNT}/jobs/failed")
    row = page.locator(f"tr[data-job-id='{job_id}']")
    row.locator("button[name=requeue_one]").click()
    expect(page.locator("#flash")).to_have_text("1 job requeued.")
    wait_state(page, browser_app, job_id, "Succeeded")
    expect(page.locator(".timeline-entry")).to_have_count(6)
    expect(page.locator(".timeline")).to_contain_text("second time lucky")
    shot(page, artifacts, "job-succeeded")


def test_trigger_a_recurring_job_and_pause_it(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    recurring_id = f"report-{uuid.uuid4().hex[:6]}"
    browser_app.recurring.add_or_update(recurring_id, "30 4 * * 1-5", jobs.add, 20, 22)
    page.goto(f"{MOUNT}/recurring")
    row = page.locator(f"tr[data-recurring-id='{recurring_id}']")
    expect(row).to_contain_text("At 04:30, Monday through Friday")
    row.locator("button[name=trigger_one]").click()
    expect(page.locator("#flash")).to_contain_text("1 recurring job triggered. New job: #")
    link = page.locator("#flash a.new-job")
    new_id = re.fullmatch(r"#(\S+)", link.inner_text())
    assert new_id
    expect(link).to_have_attribute("href", f"{MOUNT}/job/{new_id.group(1)}")
    row.locator("button[name=pause_one]").click()
    expect(row.locator(".pill-paused")).to_be_visible()
    shot(page, artifacts, "recurring-paused")
    wait_state(page, browser_app, new_id.group(1), "Succeeded")
    expect(page.locator(".timeline")).to_contain_text("42")


def test_cancel_a_running_job_from_its_page(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    jobs.RELEASE.clear()
    try:
        job_id = browser_app.enqueue(jobs.report_progress_until_released)
        wait_state(page, browser_app, job_id, "Processing")
        expect(page.locator("#job-progress-text")).to_have_text("25%")
        expect(page.locator("#job-log")).to_contain_text("started <work>")
        shot(page, artifacts, "job-processing")
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.click("button[name=delete_one]")
        expect(page.locator("#flash")).to_have_text("1 job deleted.")
        expect(page.locator("#job")).to_have_attribute("data-state", "Deleted")
        assert asked
        assert asked[0].startswith(f"Delete job #{job_id}? A running job is only asked to stop")
    finally:
        jobs.RELEASE.set()


def test_search_paginate_select_and_delete(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    parked = browser_app.with_options(queue=PARKED)
    ids = [parked.enqueue(jobs.send_welcome_email, f"{tag}-{n}@example.com") for n in range(12)]
    page.goto(f"{MOUNT}/jobs/enqueued?queue={PARKED}")
    page.fill("form.filters input[name=q]", tag)
    page.press("form.filters input[name=q]", "Enter")
    rows = page.locator("#jobs-table tbody tr")
    expect(rows).to_have_count(12)
    page.select_option("select[name=size]", "10")
    page.click("form.filters button[type=submit]")
    expect(rows).to_have_count(10)
    expect(page.locator(".pager")).to_contain_text("page 1 of 2")
    page.click(".pager a[rel=next]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-job-id", ids[1])
    page.click(".pager a[rel=prev]")
    page.check("input[data-select-all]")
    expect(page.locator("[data-selection-count]")).to_have_text("10 selected")
    page.once("dialog", lambda dialog: dialog.dismiss())  # "Delete the selected jobs?" - no
    page.click("#selection-form button[name=action][value=delete]")
    expect(rows).to_have_count(10)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#selection-form button[name=action][value=delete]")
    expect(page.locator("#flash")).to_have_text("10 jobs deleted.")
    expect(rows).to_have_count(2)
    shot(page, artifacts, "search-after-delete")


def test_delete_all_matching_after_confirmation(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    parked = browser_app.with_options(queue=PARKED)
    for n in range(7):
        parked.enqueue(jobs.send_welcome_email, f"{tag}-{n}@example.com")
    page.goto(f"{MOUNT}/jobs/enqueued?q={tag}&size=10")
    page.click("form.bulk-all button[value=delete]")
    expect(page.locator("#confirm-count")).to_have_text("7")
    shot(page, artifacts, "confirm-bulk")
    page.click("button[name=confirm]")
    expect(page.locator("#flash")).to_have_text("7 jobs deleted.")
    expect(page.locator("p.empty")).to_contain_text("No Enqueued job matches this filter.")


def test_live_counters_follow_new_jobs(page: Page, browser_app: stoker.App) -> None:
    page.goto(f"{MOUNT}/jobs/enqueued?queue={PARKED}")
    badge = page.locator("aside [data-count=Enqueued]")
    before = int(badge.inner_text())
    browser_app.with_options(queue=PARKED).enqueue_many(jobs.add, [(1, 1), (2, 2), (3, 3)])
    expect(badge).to_have_text(str(before + 3))


def test_dark_theme_toggle_is_remembered(page: Page, artifacts: Path) -> None:
    page.goto(f"{MOUNT}/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(11, 15, 23)"
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    shot(page, artifacts, "overview-dark")
    page.goto(f"{MOUNT}/jobs/succeeded")
    shot(page, artifacts, "jobs-succeeded-dark")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "light")


def test_no_console_errors_and_no_csp_violations(page: Page, browser_app: stoker.App) -> None:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    job_id = browser_app.with_options(queue=PARKED).enqueue(jobs.add, 1, 2)
    for path in ("/", "/jobs/enqueued", f"/job/{job_id}", "/recurring", "/servers", "/retries"):
        page.goto(f"{MOUNT}{path}")
        expect(page.locator("#live")).to_have_class(re.compile(r"\bok\b"))
    assert errors == []
