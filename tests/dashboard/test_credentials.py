"""Storage credentials never reach a page, an API answer, a log line or an error message."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.dashboard import create_app
from stoker.storage import open_storage, redact_url
from tests.dashboard import dashboard_jobs as jobs
from tests.dashboard.helpers import LOCAL, LOCAL_URL

SECRET = "s3cr3t-Pw-4711"


def _with_password(url: str) -> str:
    # The test server trusts local connections, so any password is accepted (and ignored).
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@", 1)


def test_no_page_or_api_answer_or_log_line_shows_the_password(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = stoker.App(_with_password(postgres_url))
    try:
        app.enqueue(jobs.add, 1, 2)
        app.with_options(retries=0).enqueue(jobs.always_fail, "boom")
        with app.server(workers=1, poll_interval=0.05):
            client = TestClient(create_app(app), client=LOCAL, base_url=LOCAL_URL)
            paths = ["/", "/jobs/enqueued", "/jobs/failed", "/retries", "/recurring", "/servers"]
            paths += ["/job/1", "/api/stats", "/api/jobs/enqueued", "/api/job/1", "/nope"]
            for path in paths:
                response = client.get(path)
                assert SECRET not in response.text, path
    finally:
        app.close()
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres@127.0.0.1:1/test?password={SECRET}",  # nothing listens on :1
        f"redis://:{SECRET}@127.0.0.1:1/0",
        f"mysql://root:{SECRET}@db/x",
    ],
)
def test_errors_about_a_storage_url_do_not_show_its_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert SECRET not in redact_url(url)
    with pytest.raises(Exception) as raised:
        open_storage(url).count_by_state()
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(raised.value.__cause__)
    assert SECRET not in caplog.text
