"""The application's pages: user input is escaped everywhere, forms from other sites refused."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage

from starlette.testclient import TestClient

from examples.registration.settings import Settings
from examples.registration.system import Registration
from examples.registration.web import create_web_app, linkify
from tests.polling import wait_for

Start = Callable[..., Registration]
MakeSettings = Callable[..., Settings]
EVIL_NAME = "<script>alert('name')</script> & \"Bobby\""


def test_linkify_escapes_text_and_links_only_http_urls() -> None:
    html = str(linkify('see <b>http://x.test/a?b=1&c="2"</b> and javascript:alert(1) now'))
    assert html == (
        'see &lt;b&gt;<a href="http://x.test/a?b=1&amp;c=">http://x.test/a?b=1&amp;c=</a>'
        "&#34;2&#34;&lt;/b&gt; and javascript:alert(1) now"
    )


def test_a_name_with_markup_is_shown_as_text_on_every_page(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    registration = start_registration(make_settings(sqlite_url, activation={"delay_seconds": 0}))
    client = TestClient(create_web_app(registration))
    response = client.post("/register", data={"name": EVIL_NAME, "email": "bob@example.com"})
    assert response.status_code == 200
    escaped = "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt; &amp; &#34;Bobby&#34;"
    assert escaped in response.text  # the notice and the users table
    assert "<script>alert(" not in response.text

    mailbox = registration.mailbox
    assert mailbox is not None
    assert mailbox.wait_for_count(1, timeout=15)
    [mail] = mailbox.mails()
    assert mail.to == ("bob@example.com",)  # the name added no recipient
    page = client.get("/mailbox")
    assert "<script>alert(" not in page.text
    assert escaped in page.text
    [user] = registration.users.recent()
    activated = client.get(f"/activate/{user.token}")
    assert escaped in activated.text
    assert "<script>alert(" not in activated.text


def test_a_rejected_form_shows_the_input_back_escaped(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    client = TestClient(create_web_app(start_registration(make_settings(sqlite_url))))
    page = client.post("/register", data={"name": "Eve", "email": '"><script>x()</script>'})
    assert page.status_code == 400
    assert 'value="&#34;&gt;&lt;script&gt;x()&lt;/script&gt;"' in page.text
    assert "<script>x()" not in page.text


def test_mail_from_outside_is_shown_as_text(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url)
    registration = start_registration(settings)
    message = EmailMessage()
    message["From"] = "<img src=x onerror=alert(1)>@evil.test"
    message["To"] = "victim@example.com"
    message["Subject"] = "<iframe src=javascript:alert(2)>"
    message.set_content('<a href="javascript:alert(3)">click</a> https://ok.test/x')
    with smtplib.SMTP(settings.smtp.host, settings.smtp.port, timeout=5) as smtp:
        smtp.send_message(message, from_addr="spoof@evil.test")
    mailbox = registration.mailbox
    assert mailbox is not None
    wait_for(lambda: mailbox.count == 1, what="the mail")
    page = TestClient(create_web_app(registration)).get("/mailbox").text
    for raw in ("<img src=x", "<iframe", '<a href="javascript:'):
        assert raw not in page
    assert "&lt;iframe src=javascript:alert(2)&gt;" in page
    assert '<a href="https://ok.test/x">https://ok.test/x</a>' in page


def test_a_query_parameter_is_escaped_on_the_backups_page(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    client = TestClient(create_web_app(start_registration(make_settings(sqlite_url))))
    page = client.get("/backups", params={"job": '"><script>x()</script>'})
    assert "<script>x()" not in page.text
    assert "/stoker/job/%22%3E%3Cscript%3Ex%28%29%3C/script%3E" in page.text


def test_a_registered_parameter_that_is_not_a_user_is_ignored(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    client = TestClient(create_web_app(start_registration(make_settings(sqlite_url))))
    for value in ("99999999999999999999999", "-1", "<b>", "7"):
        page = client.get("/", params={"registered": value})
        assert page.status_code == 200
        assert 'id="notice"' not in page.text


def test_forms_posted_from_another_site_are_refused(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    registration = start_registration(make_settings(sqlite_url))
    client = TestClient(create_web_app(registration), base_url="http://127.0.0.1:8080")
    cross = {"origin": "https://evil.example"}
    form = {"name": "Mallory", "email": "m@example.com"}
    assert client.post("/register", data=form, headers=cross).status_code == 403
    assert client.post("/mailbox/stop", headers=cross).status_code == 403
    assert client.post("/backups/run", headers=cross).status_code == 403
    assert registration.users.count() == 0
    same = {"origin": "http://127.0.0.1:8080"}
    assert client.post("/register", data=form, headers=same).status_code == 200
    assert registration.users.count() == 1


def test_the_mailbox_page_plays_an_smtp_outage(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    registration = start_registration(make_settings(sqlite_url))
    client = TestClient(create_web_app(registration))
    assert client.post("/mailbox/stop").status_code == 200
    assert client.get("/mailbox/state").json() == {"count": 0, "running": False}
    assert 'id="sink-start"' in client.get("/mailbox").text
    assert client.post("/mailbox/start").status_code == 200
    assert client.get("/mailbox/state").json() == {"count": 0, "running": True}
    assert client.post("/mailbox/explode").status_code == 404


def test_the_dashboard_is_mounted_at_stoker_and_shows_the_backup_job(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    registration = start_registration(make_settings(sqlite_url))
    local = TestClient(
        create_web_app(registration),
        client=("127.0.0.1", 50000),
        base_url="http://127.0.0.1:8080",
    )
    page = local.get("/stoker/recurring")
    assert page.status_code == 200
    assert "db-backup" in page.text
    assert 'href="/stoker/' in local.get("/").text
