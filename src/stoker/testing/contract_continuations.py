"""Contract tests for continuations released by a parent's change, and for due scheduled jobs."""

from __future__ import annotations

from stoker.core.protocols import Storage
from stoker.core.states import Deleted, Failed, Succeeded
from stoker.testing.contract_support import (
    ContractSupport,
    at,
    change,
    create,
    details,
    drain,
    fetch_id,
    history_names,
    ms,
    state_of,
)

BOOM = Failed(exception_type="RuntimeError", message="boom")


class ContinuationsContract(ContractSupport):
    """`release_continuations`: Awaiting children follow their parent's final state."""

    def _family(self, storage: Storage, *on_states: tuple[str, ...]) -> tuple[str, list[str]]:
        """A parent in `default` and one child per `on_states`, each on its own queue."""
        parent = create(storage, created_at=at(0))
        children = [
            create(
                storage,
                f"child-{number}",
                state="Awaiting",
                parent_id=parent,
                on_states=states,
                created_at=at(1),
            )
            for number, states in enumerate(on_states)
        ]
        return parent, children

    def test_children_are_listed_and_know_their_parent(self, storage: Storage) -> None:
        parent, children = self._family(storage, ("Succeeded",), ("Succeeded", "Deleted"))
        assert sorted(details(storage, parent).continuations) == sorted(children)
        assert [details(storage, child).job.parent_id for child in children] == [parent] * 2

    def test_parent_succeeded_releases_its_children(self, storage: Storage) -> None:
        parent, (child,) = self._family(storage, ("Succeeded",))
        assert change(storage, parent, Succeeded(), at(5), release_continuations=True)
        assert state_of(storage, child) == "Enqueued"
        assert history_names(storage, child) == ["Awaiting", "Enqueued"]
        assert details(storage, child).job.queue == "child-0"
        assert fetch_id(storage, ["default"], at(6)) is None
        assert fetch_id(storage, ["child-0"], at(6)) == child

    def test_children_wait_when_continuations_are_not_released(self, storage: Storage) -> None:
        parent, (child,) = self._family(storage, ("Succeeded",))
        assert change(storage, parent, Succeeded(), at(5))
        assert state_of(storage, child) == "Awaiting"
        assert fetch_id(storage, ["child-0"], at(6)) is None

    def test_parent_failed_releases_only_children_waiting_for_failure(
        self, storage: Storage
    ) -> None:
        parent, (on_success, on_failure) = self._family(
            storage, ("Succeeded",), ("Succeeded", "Failed")
        )
        assert change(storage, parent, BOOM, at(5), release_continuations=True)
        assert state_of(storage, on_success) == "Awaiting"
        assert state_of(storage, on_failure) == "Enqueued"
        assert drain(storage, ["child-0", "child-1"], at(6)) == [on_failure]

    def test_parent_deleted_deletes_or_releases_children(self, storage: Storage) -> None:
        parent, (on_success, on_deleted) = self._family(
            storage, ("Succeeded",), ("Succeeded", "Deleted")
        )
        applied = change(
            storage,
            parent,
            Deleted(),
            at(5),
            expire_at=at(1000),
            release_continuations=True,
            deleted_children_expire_at=at(500),
        )
        assert applied
        deleted = details(storage, on_success).job
        assert deleted.state.name == "Deleted"
        assert deleted.expire_at is not None
        assert ms(deleted.expire_at) == at(500)
        assert state_of(storage, on_deleted) == "Enqueued"
        assert drain(storage, ["child-0", "child-1"], at(6)) == [on_deleted]
        assert storage.delete_expired(at(600), 100) == 1
        assert storage.job_details(on_success) is None


class ScheduledContract(ContractSupport):
    """`enqueue_due_scheduled`: Scheduled jobs whose time has come become Enqueued."""

    def test_only_due_jobs_are_enqueued(self, storage: Storage) -> None:
        due = create(storage, "mail", state="Scheduled", run_at=at(60))
        exactly_due = create(storage, "default", state="Scheduled", run_at=at(100))
        later = create(storage, "default", state="Scheduled", run_at=at(101))
        assert storage.enqueue_due_scheduled(at(100), 10) == 2
        assert state_of(storage, later) == "Scheduled"
        assert history_names(storage, due) == ["Scheduled", "Enqueued"]
        assert ms(details(storage, due).history[-1].created_at) == at(100)
        assert storage.queue_lengths().get("mail") == 1
        assert fetch_id(storage, ["mail"], at(100)) == due
        assert fetch_id(storage, ["default"], at(100)) == exactly_due
        assert fetch_id(storage, ["default"], at(100)) is None
        assert storage.count_by_state()["Scheduled"] == 1

    def test_enqueue_due_scheduled_respects_the_limit(self, storage: Storage) -> None:
        for second in (1, 2, 3):
            create(storage, state="Scheduled", run_at=at(second))
        assert storage.enqueue_due_scheduled(at(10), 2) == 2
        assert storage.count_by_state()["Scheduled"] == 1
        assert storage.enqueue_due_scheduled(at(10), 2) == 1
        assert storage.enqueue_due_scheduled(at(10), 2) == 0
        assert storage.count_by_state()["Enqueued"] == 3
