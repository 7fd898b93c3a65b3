"""The dashboard on a phone and a tablet, in another time zone, without JavaScript, live lists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

import stoker
from tests.browser.conftest import MOUNT
from tests.dashboard import dashboard_jobs as jobs

PARKED = "parked-usability"  # no server listens on it: its jobs stay Enqueued
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
PAGES = ("/", "/jobs/enqueued", "/jobs/failed", "/retries", "/recurring", "/servers")


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


@pytest.fixture
def sized_page(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, viewport=request.param)
    page = context.new_page()
    yield page
    context.close()


def assert_no_sideways_scroll(page: Page, path: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    wide = page.evaluate(
        "w => [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > w + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)",
        viewport,
    )
    assert width <= viewport, f"{path} is {width} px wide in a {viewport} px window: {wide}"


def assert_inside_window(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= page.evaluate("window.innerWidth")


def visit_every_page(page: Page, artifacts: Path, device: str, paths: tuple[str, ...]) -> None:
    """Open each page: nothing may scroll sideways, the theme switch must be on screen."""
    for path in paths:
        page.goto(f"{MOUNT}{path}")
        name = path.strip("/").split("?")[0].replace("/", "-") or "overview"
        shot(page, artifacts, f"{device}-{name}")  # first: a failure shows what was wrong
        assert_no_sideways_scroll(page, path)
        assert_inside_window(page, "#theme-toggle")


LONG_QUEUE = "eu-west-billing-monthly-subscription-invoice-reminders"


def some_jobs(app: stoker.App) -> str:
    """Jobs with long names and texts, as real ones have; the id of a Failed one."""
    parked = app.with_options(queue=PARKED)
    parked.enqueue(jobs.send_welcome_email, "someone.with.a.long.address@example.com")
    app.with_options(queue=LONG_QUEUE).enqueue(
        jobs.send_monthly_subscription_invoice_reminders_to_every_customer, "premium"
    )
    failing = app.with_options(retries=0).enqueue(jobs.always_fail, "a message long enough to wrap")
    return failing


@pytest.mark.parametrize("sized_page", [PHONE], indirect=True, ids=["390px"])
def test_on_a_phone_nothing_scrolls_sideways_and_the_menu_collapses(
    sized_page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    page = sized_page
    failing = some_jobs(browser_app)
    reminders = browser_app.with_options(queue=PARKED).enqueue(
        jobs.send_monthly_subscription_invoice_reminders_to_every_customer, "all"
    )
    long_search = "/search?q=" + "no-such-text-" * 8
    paths = (*PAGES, f"/job/{failing}", f"/job/{reminders}", "/search?q=example", long_search)
    visit_every_page(page, artifacts, "phone", paths)
    page.goto(f"{MOUNT}/")
    nav = page.locator("#mainnav")
    expect(nav).to_be_hidden()
    page.click("#menu-toggle")
    expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    shot(page, artifacts, "phone-menu-open")
    page.keyboard.press("Escape")  # closes it, and the focus goes back to the button
    expect(nav).to_be_hidden()
    expect(page.locator("#menu-toggle")).to_be_focused()
    page.keyboard.press("Enter")
    expect(nav).to_be_visible()
    nav.locator("text=Recurring Jobs").click()
    expect(page.locator("h1")).to_contain_text("Recurring jobs")
    # Every state's list is one tap away, and a job row is a readable card, not a squeezed row.
    page.goto(f"{MOUNT}/jobs/enqueued?queue={PARKED}")
    page.locator("aside.sidebar >> text=Failed").click()
    expect(page.locator("h1 .state")).to_have_text("Failed")
    cell = page.locator("#jobs-table tbody tr").first.locator("td.job-cell")
    box = cell.bounding_box()
    assert box is not None
    assert box["width"] > 300


@pytest.mark.parametrize("sized_page", [TABLET], indirect=True, ids=["768px"])
def test_on_a_tablet_the_states_are_reachable_and_tables_fit(
    sized_page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    page = sized_page
    failing = some_jobs(browser_app)
    visit_every_page(page, artifacts, "tablet", (*PAGES, f"/job/{failing}"))
    expect(page.locator("#mainnav")).to_be_visible()  # no menu button at this width
    page.goto(f"{MOUNT}/jobs/enqueued")
    for state in ("Scheduled", "Failed", "Awaiting"):
        page.locator(f"aside.sidebar >> text={state}").click()
        expect(page.locator("h1 .state")).to_have_text(state)


def test_times_are_shown_in_the_browsers_time_zone_with_utc_on_hover(
    browser: Browser, base_url: str, browser_app: stoker.App, artifacts: Path
) -> None:
    job_id = browser_app.with_options(queue=PARKED).enqueue(jobs.add, 1, 2)
    context = browser.new_context(base_url=base_url, timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        page.goto(f"{MOUNT}/job/{job_id}")
        stamp = page.locator(".timeline time[data-time=absolute]").first
        utc = stamp.get_attribute("datetime")
        assert utc is not None
        hour = (int(utc[11:13]) + 9) % 24  # Tokyo is UTC+9, without daylight saving
        expect(stamp).to_contain_text(f" {hour:02d}:{utc[14:16]}:")
        expect(stamp).to_contain_text("Asia/Tokyo")
        expect(stamp).to_have_attribute("title", re.compile(r" UTC$"))
        relative = page.locator(".job-head time").first
        expect(relative).to_have_attribute("title", re.compile(r"Asia/Tokyo · .* UTC$"))
        shot(page, artifacts, "job-local-time")
    finally:
        context.close()


def test_without_javascript_the_pages_still_work(
    browser: Browser, base_url: str, browser_app: stoker.App, artifacts: Path
) -> None:
    browser_app.with_options(retries=0).enqueue(jobs.always_fail, "no script")
    context = browser.new_context(base_url=base_url, java_script_enabled=False, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(f"{MOUNT}/")
        expect(page.locator("#realtime-note")).to_contain_text("needs JavaScript")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(11, 15, 23)"  # the system's dark preference, without a script
        shot(page, artifacts, "no-javascript-dark")
        page.goto(f"{MOUNT}/jobs/failed")
        expect(page.locator("#jobs-table tbody tr").first).to_be_visible()
        page.locator("#jobs-table tbody tr input[name=ids]").first.check()
        button = page.locator("#selection-form button[name=action][value=requeue]")
        expect(button).to_be_enabled()
        button.click()
        expect(page.locator("#flash")).to_contain_text("1 job requeued.")
    finally:
        context.close()


def test_heading_and_pager_follow_new_jobs_and_progress_is_live(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    page.goto(f"{MOUNT}/jobs/enqueued")
    heading = page.locator("#state-total")
    before = int(heading.inner_text())
    browser_app.with_options(queue=PARKED).enqueue_many(jobs.add, [(1, 1), (2, 2)])
    expect(heading).to_have_text(str(before + 2))
    expect(page.locator(".pager [data-count=Enqueued]")).to_have_text(str(before + 2))
    jobs.STEP.clear()
    jobs.RELEASE.clear()
    try:
        job_id = browser_app.enqueue(jobs.progress_in_steps)
        page.set_viewport_size(TABLET)  # where the Processing table's columns are tight
        page.goto(f"{MOUNT}/jobs/processing")
        row = page.locator(f"tr[data-job-id='{job_id}']")
        expect(row.locator("td.job-progress")).to_contain_text("25%", timeout=15_000)
        jobs.STEP.set()
        expect(row.locator("td.job-progress")).to_contain_text("75%")  # without a reload
        shot(page, artifacts, "processing-live-progress")
        # Worker and server ids wrap only where they must: "worker-1" stays on one line.
        worker = row.locator("td[data-label=Worker]")
        assert worker.evaluate("cell => getComputedStyle(cell).wordBreak") == "normal"
        lines = worker.evaluate(
            "cell => { const range = document.createRange(); range.selectNodeContents(cell);"
            " return range.getClientRects().length; }"
        )
        assert lines == 1  # one line box
    finally:
        jobs.RELEASE.set()
        jobs.STEP.set()
    expect(row).to_have_class(re.compile(r"\bfinished\b"))


def test_the_lookup_in_the_top_bar_opens_a_job_by_its_shown_id(
    page: Page, browser_app: stoker.App
) -> None:
    job_id = browser_app.with_options(queue=PARKED).enqueue(jobs.add, 3, 4)
    page.goto(f"{MOUNT}/servers")
    page.fill(".lookup input[name=q]", f"#{job_id}")
    page.press(".lookup input[name=q]", "Enter")
    expect(page).to_have_url(re.compile(rf"{MOUNT}/job/{job_id}$"))
    expect(page.locator("#job")).to_have_attribute("data-job-id", job_id)


def test_buttons_of_a_paused_recurring_job_look_enabled(
    page: Page, browser_app: stoker.App
) -> None:
    browser_app.recurring.add_or_update("paused-report", "0 6 * * *", jobs.add, 1, 1)
    browser_app.recurring.pause("paused-report")
    page.goto(f"{MOUNT}/recurring")
    row = page.locator("tr[data-recurring-id='paused-report']")
    expect(row).to_have_class(re.compile(r"\bpaused\b"))
    actions = row.locator("td.actions")
    assert actions.evaluate("cell => getComputedStyle(cell).opacity") == "1"
    name = row.locator("td").nth(1)
    assert float(name.evaluate("cell => getComputedStyle(cell).opacity")) < 1  # the row is dimmed
    expect(actions.locator("button[name=resume_one]")).to_be_enabled()
