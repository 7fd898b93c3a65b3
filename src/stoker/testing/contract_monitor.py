"""Contract tests for the dashboard's read side: queue lengths, paging, filtering and search."""

from __future__ import annotations

import pytest

from stoker.storage.base import Storage
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    create,
    details,
    fetch_id,
)


def _ids(
    storage: Storage,
    state: str,
    *,
    queue: str | None = None,
    search: str | None = None,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = True,
) -> list[str]:
    listed = storage.list_jobs(
        state, queue=queue, search=search, offset=offset, limit=limit, newest_first=newest_first
    )
    return [job.id for job in listed]


class QueueLengthsContract(ContractSupport):
    """`queue_lengths` counts Enqueued jobs per queue."""

    def test_queue_lengths_count_enqueued_jobs(self, storage: Storage) -> None:
        assert all(length == 0 for length in storage.queue_lengths().values())
        create(storage, "a")
        create(storage, "a")
        create(storage, "b")
        create(storage, "c", state="Scheduled")
        lengths = storage.queue_lengths()
        assert (lengths.get("a"), lengths.get("b"), lengths.get("c", 0)) == (2, 1, 0)
        assert fetch_id(storage, ["a"]) is not None
        assert storage.queue_lengths().get("a") == 1


class ListJobsContract(ContractSupport):
    """`list_jobs` / `count_jobs`: ordering, paging, queue filter and search."""

    def _seven(self, storage: Storage) -> tuple[list[str], list[str]]:
        default = [create(storage, "default", created_at=at(n)) for n in range(1, 6)]
        mail = [create(storage, "mail", created_at=at(n)) for n in (6, 7)]
        return default, mail

    def test_jobs_are_ordered_by_the_time_they_entered_the_state(self, storage: Storage) -> None:
        default, mail = self._seven(storage)
        everything = default + mail
        assert _ids(storage, "Enqueued", newest_first=False) == everything
        assert _ids(storage, "Enqueued") == everything[::-1]
        assert _ids(storage, "Enqueued", newest_first=True) == everything[::-1]
        assert _ids(storage, "Succeeded") == []

    def test_paging_with_offset_and_limit(self, storage: Storage) -> None:
        default, mail = self._seven(storage)
        everything = default + mail
        assert _ids(storage, "Enqueued", offset=1, limit=2, newest_first=False) == everything[1:3]
        assert _ids(storage, "Enqueued", offset=1, limit=2) == everything[::-1][1:3]
        assert _ids(storage, "Enqueued", offset=5, limit=50, newest_first=False) == mail
        assert _ids(storage, "Enqueued", offset=7, limit=50) == []
        assert storage.count_jobs("Enqueued") == 7
        assert storage.count_jobs("Processing") == 0

    def test_filter_by_queue(self, storage: Storage) -> None:
        _, mail = self._seven(storage)
        assert _ids(storage, "Enqueued", queue="mail", newest_first=False) == mail
        assert storage.count_jobs("Enqueued", queue="mail") == 2
        assert storage.count_jobs("Enqueued", queue="nothing") == 0

    def test_listed_records_match_job_details(self, storage: Storage) -> None:
        job_id = create(storage, "mail", args=["x"], params={"k": "v"}, created_at=at(3))
        (listed,) = storage.list_jobs("Enqueued")
        assert_same(listed, details(storage, job_id).job)

    def test_search_by_id_function_and_arguments(self, storage: Storage) -> None:
        welcome = create(
            storage, function="app.mail:send_welcome_email", args=["alice@example.com"]
        )
        charge = create(storage, function="app.billing:charge_card", args=["visa"])
        report = create(storage, function="app.reports:build", kwargs={"period": "quarterly"})
        assert _ids(storage, "Enqueued", search="WELCOME") == [welcome]
        assert _ids(storage, "Enqueued", search="Alice@Example") == [welcome]
        assert _ids(storage, "Enqueued", search="billing:CHARGE") == [charge]
        assert _ids(storage, "Enqueued", search=report) == [report]
        assert _ids(storage, "Enqueued", search=f"#{report}") == [report]  # as ids are shown
        assert _ids(storage, "Enqueued", search=f" # {report} ") == [report]
        assert _ids(storage, "Enqueued", search="no such text") == []
        assert storage.count_jobs("Enqueued", search="welcome") == 1
        assert storage.count_jobs("Enqueued", search="app.") == 3
        assert storage.count_jobs("Scheduled", search="welcome") == 0

    def test_text_search_reads_the_newest_jobs_of_the_window_and_ids_everywhere(
        self, storage: Storage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Substring search looks at the newest `search_window` jobs of the state (bounded on
        every storage); the job whose id is the search text is found whatever its age."""
        old = create(storage, "mail", function="app.mail:send", created_at=at(1))
        newer = [
            create(storage, "mail", function="app.mail:send", created_at=at(n)) for n in (2, 3)
        ]
        other = create(storage, "mail", function="app.crm:sync", created_at=at(4))
        monkeypatch.setattr(storage, "search_window", 3)
        assert _ids(storage, "Enqueued", search="mail:send") == newer[::-1]
        assert storage.count_jobs("Enqueued", search="mail:send") == 2
        assert _ids(storage, "Enqueued", queue="mail", search="mail:send") == newer[::-1]
        assert _ids(storage, "Enqueued", search="mail:send", newest_first=False) == newer
        assert _ids(storage, "Enqueued", search="mail:send", offset=1, limit=1) == [newer[0]]
        assert _ids(storage, "Enqueued", search=old) == [old]
        assert storage.count_jobs("Enqueued", search=old) == 1
        assert _ids(storage, "Enqueued", search=other) == [other]
        assert _ids(storage, "Scheduled", search=old) == []
        found = storage.search_jobs("Enqueued", "mail:send", offset=1, limit=1)
        assert (found.total, [job.id for job in found.jobs], found.window) == (2, [newer[0]], 3)
        oldest_first = storage.search_jobs("Enqueued", old, newest_first=False)
        assert (oldest_first.total, [job.id for job in oldest_first.jobs]) == (1, [old])
