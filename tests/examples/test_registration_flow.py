"""The registration story end to end: delayed activation mail over real SMTP, outages, retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from examples.registration.mailbox import Mailbox
from examples.registration.settings import Settings
from examples.registration.system import Registration
from examples.registration.web import URL, create_web_app
from tests.examples.conftest import STORAGES, wait_for_state
from tests.polling import wait_for

Start = Callable[..., Registration]
MakeSettings = Callable[..., Settings]


def sink(registration: Registration) -> Mailbox:
    assert registration.mailbox is not None
    return registration.mailbox


@pytest.mark.parametrize("storage", STORAGES)
def test_registering_mails_the_activation_link_after_the_delay_and_the_link_activates(
    storage: str,
    request: pytest.FixtureRequest,
    make_settings: MakeSettings,
    start_registration: Start,
) -> None:
    settings = make_settings(request.getfixturevalue(f"{storage}_url"))
    registration = start_registration(settings)
    client = TestClient(create_web_app(registration))
    mailbox = sink(registration)

    posted_at = time.monotonic()
    response = client.post(
        "/register",
        data={"name": "Ada Lovelace", "email": "ada@example.com"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [user] = registration.users.recent()
    assert user.activation_job_id is not None
    scheduled = registration.stoker.get_job(user.activation_job_id)
    assert scheduled is not None
    assert scheduled.state == "Scheduled"
    assert scheduled.function == "examples.registration.jobs:send_activation_email"
    assert scheduled.args == (user.id,)
    assert mailbox.count == 0
    assert "E-mail scheduled" in client.get(response.headers["location"]).text

    assert mailbox.wait_for_count(1, timeout=15), "the activation mail never arrived"
    assert time.monotonic() - posted_at >= settings.activation.delay_seconds
    [mail] = mailbox.mails()
    assert mail.to == ("ada@example.com",)
    assert mail.subject == "Activate your account"
    assert "Hello Ada Lovelace" in mail.text
    match = URL.search(mail.text)
    assert match is not None
    link = match.group(0)
    assert link == f"{settings.web.base_url}/activate/{user.token}"

    done = wait_for_state(registration.stoker, user.activation_job_id, "Succeeded")
    assert done.result == {"sent": True, "to": "ada@example.com", "smtp": mail_server(settings)}
    assert [entry.name for entry in done.history] == [
        "Scheduled",
        "Enqueued",
        "Processing",
        "Succeeded",
    ]
    assert any("accepted the mail" in line for _, line in done.logs)
    assert registration.users.get(user.id).mail_sent_at is not None  # type: ignore[union-attr]

    page = client.get(urlsplit(link).path)
    assert page.status_code == 200
    assert "Welcome, Ada Lovelace!" in page.text
    activated = registration.users.get(user.id)
    assert activated is not None
    assert activated.active
    assert 'class="status active">Active<' in client.get("/").text


def mail_server(settings: Settings) -> str:
    return f"{settings.smtp.host}:{settings.smtp.port}"


@pytest.mark.parametrize("storage", STORAGES)
def test_an_smtp_outage_fails_the_mail_job_which_is_retried_and_delivered_when_smtp_is_back(
    storage: str,
    request: pytest.FixtureRequest,
    make_settings: MakeSettings,
    start_registration: Start,
) -> None:
    settings = make_settings(
        request.getfixturevalue(f"{storage}_url"),
        activation={"delay_seconds": 0, "retries": 10, "retry_delays_seconds": [1]},
    )
    registration = start_registration(settings)
    mailbox = sink(registration)
    mailbox.stop()

    user = registration.register("Grace Hopper", "grace@example.com")
    job_id = user.activation_job_id
    assert job_id is not None

    def retry_scheduled() -> bool:
        info = registration.stoker.get_job(job_id)
        return info is not None and info.state == "Scheduled" and info.retry_count >= 1

    wait_for(retry_scheduled, what="a failed attempt and a scheduled retry")
    status = registration.activation_status(user)
    assert status.css == "retrying"
    assert status.label.startswith("Sending failed; retry ")
    failing = registration.stoker.get_job(job_id)
    assert failing is not None
    assert failing.exception is not None
    assert failing.exception.type.endswith("ConnectionRefusedError")

    mailbox.start()
    assert mailbox.wait_for_count(1, timeout=15), "the mail was not delivered after the outage"
    done = wait_for_state(registration.stoker, job_id, "Succeeded")
    names = [entry.name for entry in done.history]
    assert names[:3] == ["Enqueued", "Processing", "Scheduled"]
    assert names[-3:] == ["Enqueued", "Processing", "Succeeded"]
    # The failed attempt stays in the history: the retry entry carries its exception.
    retry = done.history[2]
    assert str(retry.data["exception_type"]).endswith("ConnectionRefusedError")
    assert retry.reason is not None
    assert retry.reason.startswith("Retry attempt 1 of 10: ")
    assert "ConnectionRefusedError" in retry.reason
    assert done.retry_count >= 1
    assert mailbox.mails()[0].to == ("grace@example.com",)
    assert mailbox.count == 1  # delivered once, not once per attempt


def test_a_user_who_is_active_before_the_mail_goes_out_gets_no_mail(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url, activation={"delay_seconds": 1})
    registration = start_registration(settings)
    user = registration.register("Alan Turing", "alan@example.com")
    assert registration.activate(user.token) is not None
    assert user.activation_job_id is not None
    done = wait_for_state(registration.stoker, user.activation_job_id, "Succeeded")
    assert done.result == {"sent": False, "reason": "already active"}
    assert sink(registration).count == 0


def test_registration_form_rejects_bad_input_and_duplicates_without_scheduling_a_job(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    registration = start_registration(make_settings(sqlite_url))
    client = TestClient(create_web_app(registration))
    for name, email in (("", "a@example.com"), ("Ada", "not-an-address"), ("Ada", "a@b")):
        page = client.post("/register", data={"name": name, "email": email})
        assert page.status_code == 400
        assert 'id="error"' in page.text
    ok = client.post("/register", data={"name": "Ada", "email": "ada@example.com"})
    assert ok.status_code == 200  # followed the redirect to the page with the notice
    again = client.post("/register", data={"name": "Ada 2", "email": "ada@example.com"})
    assert again.status_code == 400
    assert "ada@example.com is already registered." in again.text
    assert registration.users.count() == 1
    assert registration.stoker.storage.count_by_state()["Scheduled"] == 1


def test_a_user_is_not_kept_when_the_activation_job_cannot_be_stored(
    sqlite_url: str,
    make_settings: MakeSettings,
    start_registration: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registration = start_registration(make_settings(sqlite_url))

    def storage_down(*args: object) -> list[str]:
        raise ConnectionError("job storage unreachable")

    monkeypatch.setattr(registration.stoker.storage, "create_jobs", storage_down)
    with pytest.raises(ConnectionError):
        registration.register("Ada", "ada@example.com")
    assert registration.users.count() == 0
    client = TestClient(create_web_app(registration))
    page = client.post("/register", data={"name": "Ada", "email": "ada@example.com"})
    assert page.status_code == 503
    assert "cannot schedule your activation e-mail right now" in page.text
    assert 'value="ada@example.com"' in page.text
    assert registration.users.count() == 0


def test_an_unknown_activation_link_is_a_404_page(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    client = TestClient(create_web_app(start_registration(make_settings(sqlite_url))))
    page = client.get("/activate/no-such-token")
    assert page.status_code == 404
    assert "This activation link is not valid" in page.text
