"""Creation and perform filters: sorted by kind, nested in order, and told about failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

import stoker
from stoker.core.clock import SystemClock
from stoker.core.context import JobContext
from stoker.core.interrupts import bind_guard, unbind_guard
from stoker.core.job_filters import Creation, create_filtered, performing, sort_filters
from stoker.core.records import NewJob, StateRecord
from stoker.core.state_machine import ElectionContext

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Both:
    """A creation and perform filter that writes down when it is entered and left."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    @contextmanager
    def creating(self, creation: Creation) -> Iterator[None]:
        self.log.append(f"{self.name} creating {len(creation.jobs)}")
        creation.jobs = [*creation.jobs, creation.jobs[0]]  # filters may replace the jobs
        try:
            yield
        except ValueError as exc:
            self.log.append(f"{self.name} saw {exc}")
            raise
        self.log.append(f"{self.name} created {creation.ids}")

    @contextmanager
    def performing(self, job: JobContext) -> Iterator[None]:
        self.log.append(f"{self.name} before {job.id}")
        yield
        self.log.append(f"{self.name} after {job.id}")


class StateOnly:
    def on_election(self, context: ElectionContext) -> None:
        return None

    def on_applied(self, context: ElectionContext) -> None:
        return None


def new_job() -> NewJob:
    return NewJob("m:f", "[]", "{}", "default", StateRecord("Enqueued", NOW), NOW)


def test_filters_are_sorted_by_the_parts_they_take_part_in() -> None:
    both, state = Both("a", []), StateOnly()
    sorted_filters = sort_filters([state, both])
    assert sorted_filters.state == (state,)
    assert sorted_filters.creation == (both,)
    assert sorted_filters.perform == (both,)


def test_an_object_of_no_filter_kind_is_refused_when_the_app_is_made() -> None:
    with pytest.raises(TypeError, match="is not a filter: a filter has on_election"):
        stoker.App("sqlite://:memory:", filters=[object()])  # type: ignore[list-item]


def test_creation_filters_nest_in_order_around_the_storage_call() -> None:
    log: list[str] = []
    stored: list[int] = []

    def create(jobs: list[NewJob]) -> list[str]:
        stored.append(len(jobs))
        return [f"id{index}" for index in range(len(jobs))]

    ids = create_filtered([Both("outer", log), Both("inner", log)], [new_job()], create)
    assert stored == [3]  # each filter added a job
    assert ids == ["id0", "id1", "id2"]
    assert log == [
        "outer creating 1",
        "inner creating 2",
        "inner created ['id0', 'id1', 'id2']",
        "outer created ['id0', 'id1', 'id2']",
    ]


def test_creation_filters_see_the_storage_fail() -> None:
    log: list[str] = []

    def create(jobs: list[NewJob]) -> list[str]:
        raise ValueError("storage down")

    with pytest.raises(ValueError, match="storage down"):
        create_filtered([Both("only", log)], [new_job()], create)
    assert log == ["only creating 1", "only saw storage down"]


def test_perform_filters_nest_in_order() -> None:
    log: list[str] = []
    job = JobContext("j1", "m:f", "default", {}, storage=None, clock=SystemClock())  # type: ignore[arg-type]
    with performing([Both("outer", log), Both("inner", log)], job):
        log.append("run")
    assert log == ["outer before j1", "inner before j1", "run", "inner after j1", "outer after j1"]


class RecordingGuard:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def raise_shield(self) -> None:
        self.log.append("shield up")

    def lower_shield(self) -> None:
        self.log.append("shield down")


def test_perform_filters_are_entered_behind_the_interrupt_shield() -> None:
    # A cancellation interrupt must not land inside a filter's set-up (see performing).
    log: list[str] = []
    job = JobContext("j1", "m:f", "default", {}, storage=None, clock=SystemClock())  # type: ignore[arg-type]
    token = bind_guard(RecordingGuard(log))
    try:
        with performing([Both("outer", log), Both("inner", log)], job):
            log.append("run")
    finally:
        unbind_guard(token)
    assert log == [
        "shield up",
        "outer before j1",
        "inner before j1",
        "shield down",
        "run",
        "inner after j1",
        "outer after j1",
    ]
