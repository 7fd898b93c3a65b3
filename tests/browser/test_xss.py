"""Hostile text in arguments, results, exception messages, log lines, recurring ids and searches
is shown as text: no script of it runs in a real browser, on any page that can show it."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Dialog, Page, expect

import stoker
from tests.browser.conftest import MOUNT
from tests.browser.test_dashboard_browser import shot, wait_state
from tests.dashboard import dashboard_jobs as jobs

# Each payload sets window.__pwned or opens a dialog if the browser ever runs it.
PAYLOADS = (
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned = 2">',
    "'><svg onload=alert(3)>",
    "javascript:alert(4)",
    "</textarea></pre><script>alert(5)</script>",
)


def test_hostile_text_everywhere_stays_inert(
    page: Page, browser_app: stoker.App, artifacts: Path
) -> None:
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    marker = uuid.uuid4().hex[:12]
    text = marker + " " + " ".join(PAYLOADS)
    logged = browser_app.enqueue(jobs.log_and_return, text)
    failed = browser_app.with_options(retries=0).enqueue(jobs.always_fail, text)
    recurring_id = f"{marker}<img src=x onerror=alert(6)>"
    browser_app.recurring.add_or_update(recurring_id, "0 0 1 1 *", jobs.add, 1, 2)
    wait_state(page, browser_app, logged, "Succeeded")
    wait_state(page, browser_app, failed, "Failed")
    pages = [
        f"{MOUNT}/job/{logged}",
        f"{MOUNT}/job/{failed}",
        f"{MOUNT}/jobs/succeeded?q={marker}",
        f"{MOUNT}/jobs/failed?q={marker}",
        f"{MOUNT}/recurring",
        f"{MOUNT}/retries",
        f"{MOUNT}/jobs/succeeded?q={quote(PAYLOADS[1])}",
        f"{MOUNT}/job/{quote(PAYLOADS[0], safe='')}",
    ]
    for number, url in enumerate(pages):
        page.goto(url)
        page.wait_for_timeout(300)  # let the page's own scripts (live parts) run
        assert page.evaluate("window.__pwned") is None, url
        if number < 5:  # the pages that show the hostile texts
            expect(page.locator("body")).to_contain_text(marker)
        shot(page, artifacts, f"xss-{number}")
    # The texts are shown as written, not swallowed: the payload is visible on the job page.
    page.goto(f"{MOUNT}/job/{logged}")
    expect(page.locator("body")).to_contain_text("<script>window.__pwned = 1</script>")
    assert dialogs == []
