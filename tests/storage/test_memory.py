"""The in-memory storage beyond the contract: URLs, sharing by name, close, settled notices."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.core.errors import StorageClosedError, StorageURLError
from stoker.core.protocols import SettledNotices
from stoker.core.records import StateChange
from stoker.core.states import Failed, Succeeded
from stoker.dashboard import create_app
from stoker.storage import open_storage
from stoker.storage.memory import MemoryStorage
from stoker.testing.contract_support import SERVER, WORKER, at, make_job
from tests.dashboard.helpers import LOCAL, LOCAL_URL
from tests.polling import wait_for
from tests.scenarios import scenario_jobs


@pytest.fixture
def named(memory_url: str) -> Iterator[MemoryStorage]:
    storage = open_storage(memory_url)
    assert isinstance(storage, MemoryStorage)
    yield storage
    storage.close()


def test_private_storages_share_nothing() -> None:
    first, second = open_storage("memory://"), open_storage("memory://")
    first.create_jobs([make_job()])
    assert first.count_by_state()["Enqueued"] == 1
    assert second.count_by_state()["Enqueued"] == 0
    first.close()
    second.close()


def test_storages_of_one_name_share_their_jobs_until_the_last_one_closes(memory_url: str) -> None:
    first, second = open_storage(memory_url), open_storage(memory_url.upper().lower())
    (job_id,) = first.create_jobs([make_job()])
    assert second.job_states([job_id]) == {job_id: ("Enqueued", 1)}
    first.close()
    assert second.count_by_state()["Enqueued"] == 1  # still open on the data
    second.close()
    reopened = open_storage(memory_url)
    assert reopened.count_by_state()["Enqueued"] == 0  # the last close forgot it
    reopened.close()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("memory://bad name", {}, "bad memory storage name"),
        ("memory://-leading-dash", {}, "bad memory storage name"),
        ("memory://a/b", {}, "bad memory storage name"),
        ("memory://tests?poll_interval=1", {}, "takes no options"),
        ("memory://tests", {"poll_interval": 1}, "takes no options (got poll_interval)"),
    ],
)
def test_bad_urls_and_options_are_refused_clearly(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(StorageURLError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_storage(url, **options)


def test_a_bad_name_given_to_the_class_is_refused_too() -> None:
    with pytest.raises(StorageURLError, match="bad memory storage name 'a b'"):
        MemoryStorage("a b")


def test_closing_one_storage_leaves_the_others_of_its_name_working(memory_url: str) -> None:
    first, second = open_storage(memory_url), open_storage(memory_url)
    first.close()
    with pytest.raises(StorageClosedError, match=r"memory://test-\w+ is closed"):
        first.count_by_state()
    assert second.create_jobs([make_job()]) == ["1"]
    second.close()


def test_close_ends_a_wait_for_jobs_in_progress(named: MemoryStorage) -> None:
    waiter = threading.Thread(target=named.wait_for_jobs, args=(["default"], 60.0))
    waiter.start()
    wait_for(lambda: named._reading().cond._waiters, 5.0, "the waiter to sleep")  # type: ignore[attr-defined]
    named.close()
    waiter.join(5.0)
    assert not waiter.is_alive()


def test_settled_notices_wake_watchers_of_the_job_until_they_stop(named: MemoryStorage) -> None:
    assert isinstance(named, SettledNotices)
    first, second = named.create_jobs([make_job(), make_job()])
    woken: list[str] = []
    stop = named.watch_settled(first, lambda: woken.append(first))
    fetched = named.fetch_next(["default"], SERVER, WORKER, at(1))
    assert fetched is not None
    assert fetched.id == first
    assert woken == []  # Processing is not settled
    named.change_state(StateChange(first, Failed("E", "m").to_record(at(2))))
    named.change_state(StateChange(second, Succeeded().to_record(at(2))))  # not watched
    assert woken == [first]
    stop()
    named.change_state(StateChange(first, Succeeded().to_record(at(3))))
    assert woken == [first]


def test_an_app_its_embedded_server_and_the_dashboard_share_a_named_storage(
    memory_url: str,
) -> None:
    with stoker.App(memory_url) as app, stoker.App(memory_url) as other:
        job_id = other.enqueue(scenario_jobs.add, 2, 3)
        with app.server(workers=2, poll_interval=0.1):
            info = other.wait(job_id, timeout=10)
        assert info.result == 5
        client = TestClient(create_app(app), client=LOCAL, base_url=LOCAL_URL)
        page = client.get("/jobs/succeeded")
        assert page.status_code == 200
        assert f'href="/job/{job_id}"' in page.text
