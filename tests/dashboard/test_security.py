"""Local-only default, authorize and read-only hooks, CSRF, escaping, headers, redirects."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.testclient import TestClient

import stoker
from stoker.core.records import StateChange
from stoker.core.states import Failed
from stoker.dashboard import create_app
from stoker.dashboard.access import is_loopback
from stoker.dashboard.security import FLASH_COOKIE, sign
from stoker.testing.contract_support import make_recurring
from tests.dashboard.helpers import LOCAL, LOCAL_URL, csrf_of, flash_of, new_job, post

PATHS = [
    "/",
    "/jobs/failed",
    "/retries",
    "/recurring",
    "/servers",
    "/api/stats",
    "/static/stoker.js",
]
XSS = "<script>alert('x')</script>"


def state_of(app: stoker.App, job_id: str) -> str | None:
    info = app.get_job(job_id)
    return info.state if info else None


@pytest.mark.parametrize(
    "host", ["10.0.0.5", "192.168.1.20", "8.8.8.8", "2001:db8::1", "testclient"]
)
def test_requests_from_other_hosts_are_forbidden_by_default(app: stoker.App, host: str) -> None:
    client = TestClient(create_app(app), client=(host, 1234), base_url=LOCAL_URL)
    for path in PATHS:
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.headers["x-frame-options"] == "DENY"
    assert client.post("/jobs/action", data={"expected_state": "Failed"}).status_code == 403


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_requests_are_allowed_by_default(app: stoker.App, host: str) -> None:
    client = TestClient(create_app(app), client=(host, 1234), base_url=LOCAL_URL)
    for path in PATHS:
        assert client.get(path).status_code == 200, path


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("::ffff:127.1.2.3")
    for host in ("", None, "localhost", "10.0.0.1", "::2", "0.0.0.0", "128.0.0.1"):
        assert not is_loopback(host)


def test_authorize_hook_alone_decides(app: stoker.App) -> None:
    def admins_only(request: Request) -> bool:
        return request.headers.get("x-user") == "admin"

    dashboard = create_app(app, authorize=admins_only, allowed_hosts=["jobs.example.com"])
    remote = TestClient(dashboard, client=("203.0.113.9", 1), base_url="https://jobs.example.com")
    assert remote.get("/", headers={"x-user": "admin"}).status_code == 200
    assert remote.get("/", headers={"x-user": "mallory"}).status_code == 403
    # the hook replaces the loopback rule: behind a local proxy everyone looks local
    local = TestClient(dashboard, client=LOCAL, base_url="https://jobs.example.com")
    assert local.get("/").status_code == 403


def test_read_only_hides_actions_and_rejects_posts(app: stoker.App) -> None:
    job_id = new_job(app, "Failed")
    app.storage.save_recurring(make_recurring("nightly"))
    client = TestClient(
        create_app(app, read_only=True), client=LOCAL, base_url=LOCAL_URL, follow_redirects=False
    )
    for path in ("/jobs/failed", f"/job/{job_id}", "/recurring", "/retries"):
        page = client.get(path).text
        assert 'method="post"' not in page, path
        assert "csrf_token" not in page, path
        assert "read-only" in page
    for path in ("/jobs/action", "/jobs/bulk", "/recurring/action"):
        response = client.post(
            path,
            data={
                "expected_state": "Failed",
                "requeue_one": job_id,
                "state": "Failed",
                "action": "requeue",
                "confirm": "yes",
                "at_most": "5",
                "trigger_one": "nightly",
            },
        )
        assert response.status_code == 403
        assert "read-only" in response.text
    assert state_of(app, job_id) == "Failed"


def test_read_only_can_depend_on_the_request(app: stoker.App) -> None:
    job_id = new_job(app, "Failed")
    dashboard = create_app(app, read_only=lambda request: "x-viewer" in request.headers)
    client = TestClient(dashboard, client=LOCAL, base_url=LOCAL_URL, follow_redirects=False)
    viewer = client.get("/jobs/failed", headers={"x-viewer": "1"}).text
    assert "requeue_one" not in viewer
    assert "requeue_one" in client.get("/jobs/failed").text
    token = csrf_of(client, "/jobs/failed")
    denied = client.post(
        "/jobs/action",
        data={"csrf_token": token, "expected_state": "Failed", "requeue_one": job_id},
        headers={"x-viewer": "1"},
    )
    assert denied.status_code == 403
    assert state_of(app, job_id) == "Failed"


def test_post_without_or_with_a_wrong_csrf_token_is_rejected(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Failed")
    form = {"expected_state": "Failed", "requeue_one": job_id}
    assert client.post("/jobs/action", data=form).status_code == 403  # no cookie, no token
    token = csrf_of(client, "/jobs/failed")
    assert client.post("/jobs/action", data=form).status_code == 403  # cookie, no token
    wrong = {**form, "csrf_token": token[:-2] + "xx"}
    assert client.post("/jobs/action", data=wrong).status_code == 403
    # a token is bound to its session cookie: another browser's token does not work here
    other = TestClient(client.app, client=LOCAL, base_url=LOCAL_URL)
    foreign = {**form, "csrf_token": csrf_of(other, "/jobs/failed")}
    assert client.post("/jobs/action", data=foreign).status_code == 403
    assert state_of(app, job_id) == "Failed"
    # a token from another dashboard (other secret) fails too
    stranger = TestClient(create_app(app), client=LOCAL, base_url=LOCAL_URL)
    cookie_token = csrf_of(stranger, "/")
    stranger_cookie = stranger.cookies.get("stoker_csrf")
    client.cookies.set("stoker_csrf", stranger_cookie or "")
    assert client.post("/jobs/action", data={**form, "csrf_token": cookie_token}).status_code == 403
    assert client.post("/recurring/action", data={"trigger_one": "x"}).status_code == 403
    assert client.post("/jobs/bulk", data={"state": "Failed"}).status_code == 403
    assert state_of(app, job_id) == "Failed"


def test_a_shared_secret_key_lets_tokens_work_across_processes(app: stoker.App) -> None:
    first = TestClient(
        create_app(app, secret_key="k" * 32),
        client=LOCAL,
        base_url=LOCAL_URL,
        follow_redirects=False,
    )
    second = TestClient(
        create_app(app, secret_key="k" * 32),
        client=LOCAL,
        base_url=LOCAL_URL,
        follow_redirects=False,
    )
    job_id = new_job(app, "Failed")
    token = csrf_of(first, "/jobs/failed")
    second.cookies.set("stoker_csrf", first.cookies.get("stoker_csrf") or "")
    response = second.post(
        "/jobs/action",
        data={"csrf_token": token, "expected_state": "Failed", "requeue_one": job_id},
    )
    assert response.status_code == 303
    assert state_of(app, job_id) == "Enqueued"


def test_user_text_is_escaped_everywhere(app: stoker.App, client: TestClient) -> None:
    job_id = new_job(app, "Processing", function=f"evil:{XSS}", args=[XSS], kwargs={XSS: XSS})
    now = app.clock.now()
    assert app.storage.change_state(
        StateChange(
            job_id,
            Failed(exception_type=XSS, message=XSS, traceback=XSS, reason=XSS).to_record(now),
        )
    )
    app.storage.save_recurring(make_recurring("rec-<b>bold</b>", queue="<i>q</i>"))
    pages = [
        f"/job/{job_id}",
        "/jobs/failed",
        f"/jobs/failed?q={XSS}",
        "/recurring",
        f"/jobs/enqueued?queue={XSS}",
        f"/job/{XSS}",
    ]
    for path in pages:
        text = client.get(path).text
        assert "<script>alert" not in text, path
        assert "<b>bold" not in text, path
        assert "<i>q" not in text, path
    assert "&lt;script&gt;alert(" in client.get(f"/job/{job_id}").text
    assert "rec-&lt;b&gt;bold&lt;/b&gt;" in client.get("/recurring").text


def test_security_headers_are_set(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


def test_pages_use_no_inline_script_or_style(app: stoker.App, client: TestClient) -> None:
    job_id = new_job(app, "Processing")
    for path in ("/", "/jobs/processing", f"/job/{job_id}", "/recurring", "/servers", "/retries"):
        text = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert " style=" not in text, path
        assert "<style" not in text, path


def test_after_an_action_the_redirect_stays_inside_the_dashboard(
    app: stoker.App, client: TestClient
) -> None:
    for back in ("https://evil.example/", "//evil.example/x", "/\\evil", "javascript:alert(1)"):
        job_id = new_job(app, "Failed")
        response = post(
            client,
            "/jobs/action",
            {"expected_state": "Failed", "requeue_one": job_id, "back": back},
        )
        assert response.headers["location"] == "/jobs/failed", back


def test_forged_flash_cookie_is_ignored(client: TestClient) -> None:
    client.cookies.set(FLASH_COOKIE, sign(b"not-the-key-of-this-app!", "flash", {"text": "pwned"}))
    assert "pwned" not in client.get("/").text


def test_flash_is_shown_once(app: stoker.App, client: TestClient) -> None:
    job_id = new_job(app, "Failed")
    response = post(client, "/jobs/action", {"expected_state": "Failed", "requeue_one": job_id})
    assert flash_of(client, response) == "1 job requeued."
    assert 'class="flash' not in client.get("/jobs/failed").text


def test_dashboard_works_mounted_under_a_prefix(app: stoker.App) -> None:
    job_id = new_job(app, "Failed")
    host = Starlette(routes=[Mount("/admin/stoker", app=create_app(app))])
    client = TestClient(host, client=LOCAL, base_url=LOCAL_URL, follow_redirects=False)
    page = client.get("/admin/stoker/jobs/failed").text
    assert 'href="/admin/stoker/static/stoker.css' in page
    assert f'href="/admin/stoker/job/{job_id}"' in page
    assert 'action="/admin/stoker/jobs/action"' in page
    assert 'data-root="/admin/stoker"' in page
    assert not re.search(r'(href|action|src)="/(?!admin/stoker)', page)
    assert client.get("/admin/stoker/static/stoker.js").status_code == 200
    assert client.get("/admin/stoker/jobs").headers["location"] == "/admin/stoker/jobs/enqueued"
    token = csrf_of(client, "/admin/stoker/jobs/failed")
    assert client.cookies.get("stoker_csrf")
    response = client.post(
        "/admin/stoker/jobs/action",
        data={
            "csrf_token": token,
            "expected_state": "Failed",
            "requeue_one": job_id,
            "back": "/admin/stoker/jobs/failed",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/stoker/jobs/failed"
    assert state_of(app, job_id) == "Enqueued"
    # outside the mount, `back` is refused
    other = new_job(app, "Failed")
    response = client.post(
        "/admin/stoker/jobs/action",
        data={
            "csrf_token": token,
            "expected_state": "Failed",
            "requeue_one": other,
            "back": "/elsewhere",
        },
    )
    assert response.headers["location"] == "/admin/stoker/jobs/failed"


def test_app_dashboard_builds_the_same_app(app: stoker.App) -> None:
    client = TestClient(app.dashboard(title="Acme jobs"), client=LOCAL, base_url=LOCAL_URL)
    assert "<title>Overview · Acme jobs</title>" in client.get("/").text


def test_bad_options_are_rejected_when_building(app: stoker.App) -> None:
    with pytest.raises(ValueError, match="title"):
        create_app(app, title=" ")
    with pytest.raises(TypeError, match="authorize"):
        create_app(app, authorize="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret_key"):
        create_app(app, secret_key="short")


def test_wrong_methods_get_a_clear_error(client: TestClient) -> None:
    assert client.post("/jobs/failed").status_code == 405
    assert client.get("/jobs/action").status_code == 404  # not a state
    assert client.delete("/api/stats").status_code == 405


def test_serve_runs_uvicorn_on_localhost_by_default(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda asgi, **options: calls.append(options))
    from stoker.dashboard import serve

    serve(app, port=8123, title="Ops")
    assert calls == [
        {
            "host": "127.0.0.1",
            "port": 8123,
            "root_path": "",
            "forwarded_allow_ips": None,
            "log_level": "info",
        }
    ]
