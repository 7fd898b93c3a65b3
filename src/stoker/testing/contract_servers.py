"""Contract tests for servers, requeueing the jobs of dead servers, claims, and named locks."""

from __future__ import annotations

import dataclasses

from stoker.core.protocols import Storage
from stoker.core.records import Claim
from stoker.core.states import Enqueued, Succeeded
from stoker.testing.clock import FakeClock
from stoker.testing.contract_support import (
    ContractSupport,
    assert_same,
    at,
    change,
    create,
    details,
    history_names,
    make_server,
    ms,
)


def _claim(storage: Storage, server_id: str, now: float = 1) -> str:
    fetched = storage.fetch_next(["default"], server_id, "worker-1", at(now))
    assert fetched is not None
    return fetched.id


class ServersContract(ContractSupport):
    """Announce, heartbeat and removal of servers."""

    def test_announced_servers_are_listed(self, storage: Storage) -> None:
        first = make_server("server-a", queues=("critical", "default"))
        second = dataclasses.replace(make_server("server-b"), hostname="host-b", pid=7, workers=20)
        storage.announce_server(first)
        storage.announce_server(second)
        listed = sorted(storage.list_servers(), key=lambda server: server.id)
        assert_same(listed, [first, second])

    def test_announcing_again_replaces_the_record(self, storage: Storage) -> None:
        storage.announce_server(make_server("server-a"))
        again = dataclasses.replace(make_server("server-a", heartbeat_at=at(5)), workers=8)
        storage.announce_server(again)
        assert_same(storage.list_servers(), [again])

    def test_heartbeat_refreshes_known_servers_only(self, storage: Storage) -> None:
        storage.announce_server(make_server("server-a"))
        assert storage.heartbeat("server-a", at(30)) is True
        (listed,) = storage.list_servers()
        assert ms(listed.heartbeat_at) == at(30)
        assert storage.heartbeat("unknown", at(30)) is False
        storage.remove_server("server-a")
        assert storage.list_servers() == []
        assert storage.heartbeat("server-a", at(60)) is False

    def test_remove_dead_servers_removes_only_stale_ones(self, storage: Storage) -> None:
        storage.announce_server(make_server("stale", heartbeat_at=at(0)))
        storage.announce_server(make_server("alive", heartbeat_at=at(0)))
        assert storage.heartbeat("alive", at(250))
        assert storage.remove_dead_servers(at(200)) == ["stale"]
        assert [server.id for server in storage.list_servers()] == ["alive"]
        assert storage.remove_dead_servers(at(200)) == []

    def test_processing_counts_per_server(self, storage: Storage) -> None:
        for _ in range(3):
            create(storage)
        _claim(storage, "server-a")
        _claim(storage, "server-a")
        _claim(storage, "server-b")
        counts = storage.processing_counts()
        assert (counts.get("server-a"), counts.get("server-b")) == (2, 1)


class OrphanedJobsContract(ContractSupport):
    """`requeue_orphaned_jobs`: work of a server that is gone goes back to its queue."""

    def test_jobs_of_a_removed_server_are_requeued(self, storage: Storage) -> None:
        storage.announce_server(make_server("dead"))
        storage.announce_server(make_server("alive"))
        orphan = create(storage, created_at=at(0))
        kept = create(storage, created_at=at(0.5))
        assert _claim(storage, "dead") == orphan
        assert _claim(storage, "alive") == kept
        storage.remove_server("dead")
        assert storage.requeue_orphaned_jobs(at(10), 100) == [orphan]
        found = details(storage, orphan)
        assert history_names(storage, orphan) == ["Enqueued", "Processing", "Enqueued"]
        assert "dead" in (found.history[-1].reason or "")
        assert found.job.params.get("crashes") == 1
        assert details(storage, kept).job.state.name == "Processing"
        assert _claim(storage, "alive", now=11) == orphan
        assert storage.requeue_orphaned_jobs(at(12), 100) == []

    def test_a_second_crash_counts_again(self, storage: Storage) -> None:
        storage.announce_server(make_server("first"))
        job_id = create(storage)
        _claim(storage, "first")
        storage.remove_server("first")
        assert storage.requeue_orphaned_jobs(at(10), 100) == [job_id]
        storage.announce_server(make_server("second"))
        assert _claim(storage, "second", now=11) == job_id
        assert storage.remove_dead_servers(at(100)) == ["second"]
        assert storage.requeue_orphaned_jobs(at(101), 100) == [job_id]
        assert details(storage, job_id).job.params.get("crashes") == 2

    def test_requeue_orphaned_jobs_respects_the_limit(self, storage: Storage) -> None:
        for _ in range(3):
            create(storage)
            _claim(storage, "never-announced")
        assert len(storage.requeue_orphaned_jobs(at(10), 2)) == 2
        assert len(storage.requeue_orphaned_jobs(at(10), 2)) == 1
        assert storage.count_by_state()["Enqueued"] == 3


class ClaimedJobsContract(ContractSupport):
    """`claimed_jobs`: a worker finds the claims it holds, to recover one whose reply was lost."""

    def test_a_workers_processing_jobs_are_listed_with_their_state_ids(
        self, storage: Storage
    ) -> None:
        ids = [create(storage, queue, created_at=at(n)) for n, queue in enumerate("aabb")]
        first = storage.fetch_next(["a"], "server-a", "w1", at(5))
        other_worker = storage.fetch_next(["a"], "server-a", "w2", at(5))
        other_server = storage.fetch_next(["b"], "server-b", "w1", at(5))
        second = storage.fetch_next(["b"], "server-a", "w1", at(6))
        assert first is not None
        assert other_worker is not None
        assert other_server is not None
        assert second is not None
        assert [first.id, other_worker.id, other_server.id, second.id] == ids
        expected = [Claim(first.id, "a", first.state_id), Claim(second.id, "b", second.state_id)]
        assert storage.claimed_jobs("server-a", "w1") == expected
        assert storage.claimed_jobs("server-b", "w1") == [Claim(ids[2], "b", other_server.state_id)]
        assert storage.claimed_jobs("server-c", "w1") == []

    def test_a_job_that_left_processing_is_no_longer_claimed(self, storage: Storage) -> None:
        job_id = create(storage)
        fetched = storage.fetch_next(["default"], "server-a", "w1", at(5))
        assert fetched is not None
        done = change(storage, job_id, Succeeded(), at(6), expected_state_id=fetched.state_id)
        assert done
        assert storage.claimed_jobs("server-a", "w1") == []

    def test_a_job_claimed_again_belongs_to_its_new_worker(self, storage: Storage) -> None:
        job_id = create(storage)
        first = storage.fetch_next(["default"], "server-a", "w1", at(5))
        assert first is not None
        requeued = Enqueued(queue="default")
        assert change(storage, job_id, requeued, at(6), expected_state_id=first.state_id)
        again = storage.fetch_next(["default"], "server-a", "w2", at(7))
        assert again is not None
        assert storage.claimed_jobs("server-a", "w1") == []
        assert storage.claimed_jobs("server-a", "w2") == [Claim(job_id, "default", again.state_id)]


class LocksContract(ContractSupport):
    """Named locks with a time to live measured by the `now` callers pass."""

    def test_lock_is_exclusive_until_its_ttl_passes(self, storage: Storage) -> None:
        clock = FakeClock(at(0))
        assert storage.acquire_lock("scheduler", "a", 30, clock.now()) is True
        assert storage.acquire_lock("scheduler", "b", 30, clock.advance(29)) is False
        assert storage.acquire_lock("other-lock", "b", 30, clock.now()) is True
        assert storage.acquire_lock("scheduler", "b", 30, clock.advance(2)) is True
        assert storage.acquire_lock("scheduler", "a", 30, clock.now()) is False

    def test_the_owner_extends_its_lock(self, storage: Storage) -> None:
        clock = FakeClock(at(0))
        assert storage.acquire_lock("scheduler", "a", 30, clock.now())
        assert storage.acquire_lock("scheduler", "a", 30, clock.advance(20)) is True
        assert storage.acquire_lock("scheduler", "b", 30, clock.advance(20)) is False
        assert storage.acquire_lock("scheduler", "b", 30, clock.advance(11)) is True

    def test_release_frees_the_lock_for_its_owner_only(self, storage: Storage) -> None:
        assert storage.acquire_lock("scheduler", "a", 30, at(0))
        storage.release_lock("scheduler", "b")
        assert storage.acquire_lock("scheduler", "b", 30, at(1)) is False
        storage.release_lock("scheduler", "a")
        assert storage.acquire_lock("scheduler", "b", 30, at(2)) is True
