"""The registration sample in Chromium: register, read the mail, click the link, see the jobs.

Screenshots go to tests/browser/artifacts/; with STOKER_DOCS_SCREENSHOTS=1 also to docs/
(registration.png, mailbox.png: the README's pictures), so an ordinary test run leaves the
committed pictures alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from examples.registration import jobs
from examples.registration.__main__ import WebServer, bind
from examples.registration.settings import load_settings
from examples.registration.system import Registration
from stoker.testing.clock import FakeClock
from tests.examples.conftest import FAST_SERVER, settings_document, write_settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
VIEWPORT = {"width": 1100, "height": 640}
DELAY = 30


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory, clock: FakeClock) -> Iterator[Registration]:
    """The application as `python -m examples.registration --env demo` runs it (30 s activation
    delay, on a test clock that the test moves on), on a free port; on SQLite, unless
    STOKER_BROWSER_STORAGE names another storage URL."""
    folder = tmp_path_factory.mktemp("registration")
    url = os.environ.get("STOKER_BROWSER_STORAGE") or f"sqlite:///{folder}/stoker.db"
    document = settings_document(folder, url, activation={"delay_seconds": DELAY})
    settings = load_settings(write_settings(folder, document))
    # Heartbeats are stamped with the test clock too: a long server timeout keeps the server
    # alive in its own eyes when the clock jumps.
    server = {**FAST_SERVER, "heartbeat_interval": 30, "server_timeout": 600}
    registration = Registration(settings, clock=clock, server_options=server).start()
    sock = bind(settings)
    web = WebServer(registration, sock)
    web.start()
    yield registration
    web.stop()
    sock.close()
    registration.stop()
    jobs.configure(None)


def save(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / name))
    if os.environ.get("STOKER_DOCS_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name))


def earlier_users(registration: Registration, clock: FakeClock) -> None:
    """Two users registered before: one active, one whose mail went out (for the table)."""
    mailbox = registration.mailbox
    assert mailbox is not None
    grace = registration.register("Grace Hopper", "grace@example.com")
    clock.advance(7)
    registration.register("Alan Turing", "alan@example.com")
    clock.advance(DELAY)
    assert mailbox.wait_for_count(2, timeout=15)
    clock.advance(60)
    registration.activate(grace.token)
    clock.advance(120)


def test_register_read_the_mail_click_the_link_and_find_the_jobs_in_the_dashboard(
    browser: Browser, story: Registration, clock: FakeClock, artifacts: Path
) -> None:
    earlier_users(story, clock)
    page = browser.new_page(base_url=story.settings.web.base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto("/")
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", "ada@example.com")
    page.click("#register-button")
    expect(page.locator("#notice")).to_contain_text("Thanks, Ada Lovelace!")
    ada = page.locator("#users tbody tr", has_text="ada@example.com")
    expect(ada.locator(".status")).to_have_text("E-mail scheduled")
    expect(page.locator("#users tbody tr", has_text="grace@example.com")).to_contain_text("Active")
    save(page, artifacts, "registration.png")

    page.click("header nav >> text=Mailbox")
    expect(page.locator("article.mail")).to_have_count(2)
    clock.advance(DELAY)
    mail = page.locator("article.mail", has_text="ada@example.com")
    expect(mail).to_be_visible(timeout=15_000)  # the page reloads itself when it arrives
    expect(mail.locator(".subject")).to_have_text("Activate your account")
    save(page, artifacts, "mailbox.png")

    mail.locator("a[href*='/activate/']").click()
    expect(page.locator("#activated")).to_have_text("Welcome, Ada Lovelace!")
    page.goto("/")
    expect(ada.locator(".status")).to_have_text("Active")

    ada.locator("a[href*='/stoker/job/']").click()
    expect(page).to_have_url(re.compile(r"/stoker/job/[^/]+$"))
    expect(page.locator("#job")).to_have_attribute("data-state", "Succeeded", timeout=15_000)
    expect(page.locator("#job-log")).to_contain_text("the SMTP server accepted the mail")
    page.screenshot(path=str(artifacts / "registration-job.png"), full_page=True)

    page.click("nav.mainnav >> text=Recurring Jobs")
    expect(page.locator("main")).to_contain_text("db-backup")
    page.goto("/")
    page.click("header nav >> text=Jobs dashboard")
    expect(page.locator("h1")).to_have_text("Overview")
    page.close()


def test_back_up_now_from_the_backups_page(
    browser: Browser, story: Registration, artifacts: Path
) -> None:
    page = browser.new_page(base_url=story.settings.web.base_url, viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto("/backups")
    expect(page.locator("#schedule")).to_contain_text("0 3 * * *")
    page.click("#backup-now")
    expect(page.locator("#notice")).to_contain_text("Backup started")
    page.locator("#notice a").click()
    expect(page.locator("#job")).to_have_attribute("data-state", "Succeeded", timeout=15_000)
    expect(page.locator("#job-log")).to_contain_text("PRAGMA integrity_check: ok")
    page.goto("/backups")
    expect(page.locator("#backups tbody tr")).to_have_count(1)
    page.screenshot(path=str(artifacts / "registration-backups.png"), full_page=True)
    page.close()
