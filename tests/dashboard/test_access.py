"""Who gets in: Host names (DNS rebinding), same-origin POSTs, basic auth, malformed tokens."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.dashboard import create_app
from stoker.dashboard.access import host_matches, host_name
from stoker.dashboard.security import CSRF_COOKIE, FLASH_COOKIE
from tests.dashboard.helpers import LOCAL, LOCAL_URL, csrf_of, new_job

REMOTE = ("203.0.113.9", 4000)
PASSWORD = "correct horse battery"


def state_of(app: stoker.App, job_id: str) -> str | None:
    info = app.get_job(job_id)
    return info.state if info else None


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_a_dns_rebinding_host_name_is_refused_by_the_local_only_default(
    app: stoker.App,
) -> None:
    job_id = new_job(app, "Failed")
    # The attacker's page reaches 127.0.0.1 under its own name once DNS is rebound.
    rebound = TestClient(
        create_app(app), client=LOCAL, base_url="http://rebind.attacker.example:8000"
    )
    api = rebound.get(f"/api/job/{job_id}")
    assert api.status_code == 403
    assert "DNS rebinding" in api.json()["error"]
    assert rebound.get("/").status_code == 403
    assert CSRF_COOKIE not in rebound.cookies  # no page, so no token to steal either
    form = {"expected_state": "Failed", "delete_one": job_id, "csrf_token": "x"}
    assert rebound.post("/jobs/action", data=form).status_code == 403
    assert state_of(app, job_id) == "Failed"


@pytest.mark.parametrize(
    "base", ["http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000", LOCAL_URL]
)
def test_the_local_names_are_answered(app: stoker.App, base: str) -> None:
    client = TestClient(create_app(app), client=LOCAL, base_url=base)
    assert client.get("/").status_code == 200
    assert client.get("/api/stats").status_code == 200


def test_allowed_hosts_replace_the_local_names(app: stoker.App) -> None:
    dashboard = create_app(app, allowed_hosts=["jobs.example.com", "*.ops.example.com"])
    for base, status in [
        ("https://jobs.example.com", 200),
        ("https://eu.ops.example.com", 200),
        ("https://ops.example.com.evil.example", 403),
        ("http://localhost:8000", 403),
    ]:
        assert TestClient(dashboard, client=LOCAL, base_url=base).get("/").status_code == status


def test_a_hook_needs_the_host_names_it_serves_basic_auth_does_not(app: stoker.App) -> None:
    # A DNS-rebinding page is same-origin to the browser and can send any header or come
    # from any address a hook trusts: only the Host name tells it apart.
    hooked = create_app(app, authorize=lambda request: True)
    client = TestClient(hooked, client=REMOTE, base_url="https://jobs.example.com")
    assert client.get("/").status_code == 403
    named = create_app(app, authorize=lambda request: True, allowed_hosts=["jobs.example.com"])
    assert TestClient(named, client=REMOTE, base_url="https://jobs.example.com").get("/").is_success
    other = TestClient(named, client=REMOTE, base_url="https://elsewhere.example")
    assert other.get("/").status_code == 403
    # Stored Basic credentials are never sent to another origin, a rebound name included.
    credentials = create_app(app, basic_auth=("admin", PASSWORD))
    anywhere = TestClient(credentials, client=REMOTE, base_url="https://jobs.example.com")
    assert anywhere.get("/", headers=basic("admin", PASSWORD)).status_code == 200


def test_host_header_parsing() -> None:
    assert host_name("LocalHost:8000") == "localhost"
    assert host_name("[::1]:8000") == "[::1]"
    assert host_name("[::1]") == "[::1]"
    assert host_name("127.0.0.1") == "127.0.0.1"
    for bad in (None, "", "[::1", "[::1]x", "a:b:c", "host:port", "é.example", ":80", "[]"):
        assert host_name(bad) is None, bad
    assert host_matches("a.example.com", ("*.example.com",))
    assert not host_matches("example.com", ("*.example.com",))
    assert host_matches("anything", ("*",))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"sec-fetch-site": "same-site"}, 403),  # a sibling app on localhost:3000
        ({"origin": "http://evil.example"}, 403),
        ({"origin": "http://127.0.0.1:3000"}, 403),
        ({"origin": "null"}, 403),
        ({"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1"}, 303),
        ({"origin": "http://127.0.0.1"}, 303),
        ({}, 303),  # not a browser: the CSRF token alone guards it
    ],
)
def test_a_post_must_come_from_the_dashboards_own_origin(
    app: stoker.App, client: TestClient, headers: dict[str, str], status: int
) -> None:
    job_id = new_job(app, "Failed")
    token = csrf_of(client, "/jobs/failed")
    form = {"csrf_token": token, "expected_state": "Failed", "delete_one": job_id}
    response = client.post("/jobs/action", data=form, headers=headers)
    assert response.status_code == status
    assert state_of(app, job_id) == ("Deleted" if status == 303 else "Failed")


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Failed")
    csrf_of(client, "/jobs/failed")
    response = client.post(
        "/jobs/action",
        content=f"csrf_token=%C3%A9&expected_state=Failed&delete_one={job_id}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 403
    assert state_of(app, job_id) == "Failed"


@pytest.mark.parametrize("value", ["abc.é", "é", "ü.ü.ü", "."])
def test_a_planted_non_ascii_flash_cookie_is_ignored(client: TestClient, value: str) -> None:
    # Cookies are not isolated by port: a sibling site on localhost can set this one.
    # Sent as raw UTF-8 bytes, as a browser does.
    planted = {"cookie": f"{FLASH_COOKIE}={value}".encode()}
    for path in ("/", "/jobs/failed", "/servers"):
        assert client.get(path, headers=planted).status_code == 200, path
    session = {"cookie": f"{CSRF_COOKIE}={'é' * 43}".encode()}
    assert client.get("/jobs/failed", headers=session).status_code == 200


def test_basic_auth_lets_remote_users_in_with_the_right_credentials(app: stoker.App) -> None:
    dashboard = create_app(app, basic_auth=("admin", PASSWORD))
    client = TestClient(dashboard, client=REMOTE, base_url="https://jobs.example.com")
    asked = client.get("/")
    assert asked.status_code == 401
    assert asked.headers["www-authenticate"].startswith('Basic realm="stoker"')
    assert client.get("/api/stats").json()["error"]
    assert client.get("/", headers=basic("admin", "wrong password")).status_code == 401
    assert client.get("/", headers=basic("root", PASSWORD)).status_code == 401
    assert client.get("/", headers={"authorization": "Basic é".encode()}).status_code == 401
    assert client.get("/", headers={"authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=basic("admin", PASSWORD)).status_code == 200


def test_basic_auth_and_a_hook_must_both_agree(app: stoker.App) -> None:
    dashboard = create_app(
        app,
        basic_auth=("admin", PASSWORD),
        authorize=lambda request: request.headers.get("x-team") == "ops",
    )  # with basic auth, any Host name
    client = TestClient(dashboard, client=REMOTE, base_url="https://jobs.example.com")
    assert client.get("/", headers=basic("admin", PASSWORD)).status_code == 403
    ok = client.get("/", headers={**basic("admin", PASSWORD), "x-team": "ops"})
    assert ok.status_code == 200


def test_bad_basic_auth_settings_are_refused_when_the_dashboard_is_built(
    app: stoker.App,
) -> None:
    with pytest.raises(ValueError, match="at least 8"):
        create_app(app, basic_auth=("admin", "short"))
    with pytest.raises(ValueError, match="':'"):
        create_app(app, basic_auth=("ad:min", PASSWORD))
    with pytest.raises(TypeError, match="basic_auth"):
        create_app(app, basic_auth="admin:password")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="allowed_hosts"):
        create_app(app, allowed_hosts="localhost")


def test_forbidden_api_requests_answer_json(app: stoker.App) -> None:
    remote = TestClient(create_app(app), client=REMOTE, base_url=LOCAL_URL)
    response = remote.get("/api/stats")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/json")
    assert "local requests" in response.json()["error"]
    assert remote.get("/").headers["content-type"].startswith("text/html")
