"""Contract tests for the dashboard's read side: queue lengths, paging, filtering and search."""

from __future__ import annotations

import pytest

from stoker.core.protocols import Storage
from stoker.core.states import Deleted, Scheduled
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    change,
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
    by_due: bool = False,
) -> list[str]:
    listed = storage.list_jobs(
        state,
        queue=queue,
        search=search,
        offset=offset,
        limit=limit,
        newest_first=newest_first,
        by_due=by_due,
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
        assert _ids(storage, "Enqueued", search=f"#00{report}") == [report]
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


# (run_at second, queue) of the Scheduled jobs of DueOrderContract, in creation (= id) order:
# tie groups of 4, 3 and 2 jobs, mixed queues, entered Scheduled in the reverse order.
_DUE_PLAN = [
    (30, "default"),
    (10, "mail"),
    (20, "default"),
    (10, "default"),
    (40, "mail"),
    (20, "mail"),
    (10, "default"),
    (30, "mail"),
    (10, "mail"),
    (50, "default"),
    (20, "default"),
]


class DueOrderContract(ContractSupport):
    """`list_jobs("Scheduled", by_due=True)`: by run_at, ties by id ascending both ways."""

    def _schedule(self, storage: Storage) -> list[tuple[int, str, str]]:
        """(run_at second, queue, id) of each job, in creation order."""
        jobs = []
        for n, (run, queue) in enumerate(_DUE_PLAN):
            job_id = create(storage, queue, state="Scheduled", run_at=at(run), created_at=at(-n))
            jobs.append((run, queue, job_id))
        return jobs

    @staticmethod
    def _orders(jobs: list[tuple[int, str, str]]) -> tuple[list[str], list[str]]:
        """(soonest first, latest first) ids; `jobs` are in id order, and sorts are stable."""
        soonest = [job_id for _, _, job_id in sorted(jobs, key=lambda job: job[0])]
        latest = [job_id for _, _, job_id in sorted(jobs, key=lambda job: -job[0])]
        return soonest, latest

    def test_scheduled_jobs_by_due_time_ties_by_id(self, storage: Storage) -> None:
        jobs = self._schedule(storage)
        soonest, latest = self._orders(jobs)
        assert _ids(storage, "Scheduled", by_due=True, newest_first=False) == soonest
        assert _ids(storage, "Scheduled", by_due=True, newest_first=True) == latest
        assert _ids(storage, "Scheduled", by_due=True) == latest
        entered = [job_id for _, _, job_id in jobs]  # entered Scheduled newest first
        assert _ids(storage, "Scheduled") == entered
        first = storage.list_jobs("Scheduled", by_due=True, newest_first=False, limit=1)
        assert_same(first, [details(storage, soonest[0]).job])

    def test_due_pages_cut_anywhere_through_tie_groups(self, storage: Storage) -> None:
        soonest, latest = self._orders(self._schedule(storage))
        for newest_first, expected in ((False, soonest), (True, latest)):
            for offset in range(len(expected) + 2):
                for limit in (1, 2, 3, 5, 50):
                    page = _ids(
                        storage,
                        "Scheduled",
                        by_due=True,
                        newest_first=newest_first,
                        offset=offset,
                        limit=limit,
                    )
                    assert page == expected[offset : offset + limit], (newest_first, offset)
        assert _ids(storage, "Scheduled", by_due=True, limit=0) == []

    def test_due_order_filtered_by_queue(self, storage: Storage) -> None:
        jobs = self._schedule(storage)
        soonest, latest = self._orders([job for job in jobs if job[1] == "mail"])
        for newest_first, expected in ((False, soonest), (True, latest)):
            mail = _ids(storage, "Scheduled", queue="mail", by_due=True, newest_first=newest_first)
            assert mail == expected
            for offset in range(len(expected) + 1):
                page = _ids(
                    storage,
                    "Scheduled",
                    queue="mail",
                    by_due=True,
                    newest_first=newest_first,
                    offset=offset,
                    limit=2,
                )
                assert page == expected[offset : offset + 2], (newest_first, offset)
        assert _ids(storage, "Scheduled", queue="nothing", by_due=True) == []

    def test_by_due_is_for_scheduled_jobs_without_search(self, storage: Storage) -> None:
        create(storage, state="Scheduled", run_at=at(10))
        with pytest.raises(ValueError, match="Scheduled"):
            storage.list_jobs("Enqueued", by_due=True)
        with pytest.raises(ValueError, match="search"):
            storage.list_jobs("Scheduled", search="work", by_due=True)

    def test_jobs_leaving_or_entering_scheduled(self, storage: Storage) -> None:
        jobs = self._schedule(storage)
        assert storage.enqueue_due_scheduled(at(15), 100) == 4  # the four due at 10
        deleted = next(job_id for run, _, job_id in jobs if run == 30)
        assert change(storage, deleted, Deleted(), at(16), expected_states=("Scheduled",))
        again = create(storage, "mail")  # an Enqueued job scheduled again, due at 20
        assert change(storage, again, Scheduled(enqueue_at=at(20)), at(17), run_at=at(20))
        remaining = [job for job in jobs if job[0] > 10 and job[2] != deleted]
        remaining.append((20, "mail", again))  # the newest id: still in id order
        soonest, latest = self._orders(remaining)
        assert _ids(storage, "Scheduled", by_due=True, newest_first=False) == soonest
        assert _ids(storage, "Scheduled", by_due=True, offset=1, limit=4) == latest[1:5]
        mail = [job for job in remaining if job[1] == "mail"]
        assert _ids(storage, "Scheduled", queue="mail", by_due=True) == self._orders(mail)[1]
