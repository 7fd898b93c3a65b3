"""Creation and perform filters: features around a job's creation and around its function's run."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from stoker.core.context import JobContext
from stoker.core.interrupts import shielded
from stoker.core.records import NewJob
from stoker.core.state_machine import StateFilter


@dataclass
class Creation:
    """The jobs one client call is about to store (an enqueue, a delayed or continuation job,
    or the jobs of one `enqueue_many`). Filters may replace `jobs` (to add params, say);
    `ids` holds the stored jobs' ids, in order, once the storage returned them."""

    jobs: list[NewJob]
    ids: list[str] = field(default_factory=list)


@runtime_checkable
class CreationFilter(Protocol):
    """A feature that takes part in the client's creation of jobs (tracing, auditing, ...).

    It sees what the client creates; it does not see the jobs a storage creates in a step of
    its own (recurring occurrences, the scheduler's firings)."""

    def creating(self, creation: Creation) -> AbstractContextManager[None]:
        """Entered before the jobs are stored (may replace `creation.jobs`); left after, with
        `creation.ids` set, or with the exception that made the storage fail."""
        ...


@runtime_checkable
class PerformFilter(Protocol):
    """A feature that takes part in running a job's function (tracing, timing, ...)."""

    def performing(self, job: JobContext) -> AbstractContextManager[None]:
        """Entered in the job's own thread (or task, for `async def` jobs) just before its
        function is called; left when it returns, or with what it raised."""
        ...


# What an App's `filters` may hold: one object may be of several kinds.
Filter = StateFilter | CreationFilter | PerformFilter


@dataclass(frozen=True)
class SortedFilters:
    """An App's filters by the parts of a job's life they take part in (one may be several)."""

    state: tuple[StateFilter, ...] = ()
    creation: tuple[CreationFilter, ...] = ()
    perform: tuple[PerformFilter, ...] = ()


def sort_filters(filters: Sequence[Filter]) -> SortedFilters:
    """Sort `filters` by kind; TypeError naming a filter that is of no kind at all."""
    for each in filters:
        if not isinstance(each, StateFilter | CreationFilter | PerformFilter):
            raise TypeError(
                f"{each!r} is not a filter: a filter has on_election and on_applied (a state "
                "filter), creating (a creation filter) or performing (a perform filter)"
            )
    return SortedFilters(
        state=tuple(each for each in filters if isinstance(each, StateFilter)),
        creation=tuple(each for each in filters if isinstance(each, CreationFilter)),
        perform=tuple(each for each in filters if isinstance(each, PerformFilter)),
    )


def create_filtered(
    filters: Sequence[CreationFilter],
    jobs: list[NewJob],
    create: Callable[[list[NewJob]], list[str]],
) -> list[str]:
    """`create(jobs)` inside every filter's `creating`, the first filter outermost."""
    creation = Creation(jobs)
    with ExitStack() as stack:
        for each in filters:
            stack.enter_context(each.creating(creation))
        creation.ids = create(creation.jobs)
    return creation.ids


@contextmanager
def performing(filters: Sequence[PerformFilter], job: JobContext) -> Iterator[None]:
    """Every filter's `performing` of `job`, the first filter outermost."""
    with ExitStack() as stack:
        # A cancellation interrupt (the job was deleted) waits until every filter is entered:
        # raised in the middle of one, it would leave that filter half set up.
        with shielded():
            for each in filters:
                stack.enter_context(each.performing(job))
        yield
