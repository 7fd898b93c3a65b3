"""Job and recurring-job actions, always through the client with the state the page showed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stoker.core import reasons
from stoker.core.errors import JobNotFoundError
from stoker.dashboard.views import STATE_ACTIONS

if TYPE_CHECKING:
    from stoker.client import Client
    from stoker.core.protocols import Monitor

ACTION_VERBS = {"requeue": "requeued", "delete": "deleted"}
RECURRING_ACTIONS = ("trigger", "pause", "resume", "remove")


def allowed(action: str, state: str) -> bool:
    return any(name == action for name, _ in STATE_ACTIONS.get(state, ()))


@dataclass(frozen=True)
class Outcome:
    """How many jobs changed, how many had moved on; `remaining` if a bulk run stopped early."""

    changed: int
    moved_on: int
    remaining: int | None = None


def act(client: Client, action: str, job_id: str, expected_state: str) -> bool:
    """One action, applied only if the job is still in `expected_state` (compare-and-set in the
    state machine): a page that is out of date can never move a job that has moved on."""
    if action == "requeue":
        reason = (
            reasons.ENQUEUED_FROM_DASHBOARD
            if expected_state in ("Scheduled", "Awaiting")
            else reasons.REQUEUED_FROM_DASHBOARD
        )
        return client.requeue(job_id, expected_state=expected_state, reason=reason)
    if action == "delete":
        return client.delete(
            job_id, expected_state=expected_state, reason=reasons.DELETED_FROM_DASHBOARD
        )
    raise ValueError(f"unknown job action {action!r}")


def act_on_ids(client: Client, action: str, ids: Iterable[str], expected_state: str) -> Outcome:
    changed = moved_on = 0
    for job_id in dict.fromkeys(ids):  # de-duplicated, order kept
        if act(client, action, job_id, expected_state):
            changed += 1
        else:
            moved_on += 1
    return Outcome(changed, moved_on)


@dataclass(frozen=True)
class BulkFilter:
    """'All matching the current filter': a state, optionally a queue and a search text."""

    state: str
    queue: str | None = None
    search: str | None = None

    def count(self, monitor: Monitor) -> int:
        return monitor.count_jobs(self.state, queue=self.queue, search=self.search)


def act_on_matching(
    client: Client,
    monitor: Monitor,
    action: str,
    matching: BulkFilter,
    at_most: int,
    batch_size: int,
    time_budget: float,
) -> Outcome:
    """Apply `action` to up to `at_most` jobs matching the filter, batch by batch, oldest first.

    Every job leaves the state once acted on, so each batch is read from the front again.
    Jobs whose action was not applied (they moved on, or a race moved them and back) are
    remembered and skipped; the read widens by their number so they cannot stall the walk.
    Stops after `time_budget` seconds and reports how many still match.
    """
    deadline = time.monotonic() + time_budget
    seen: set[str] = set()
    changed = moved_on = 0
    while changed + moved_on < at_most:
        wanted = min(batch_size, at_most - changed - moved_on)
        batch = monitor.list_jobs(
            matching.state,
            queue=matching.queue,
            search=matching.search,
            offset=0,
            limit=wanted + min(moved_on, 10 * batch_size),
            newest_first=False,
        )
        fresh = [record.id for record in batch if record.id not in seen][:wanted]
        if not fresh:
            break
        for job_id in fresh:
            seen.add(job_id)
            if act(client, action, job_id, matching.state):
                changed += 1
            else:
                moved_on += 1
        if time.monotonic() > deadline:
            remaining = matching.count(monitor)
            return Outcome(changed, moved_on, remaining if remaining else None)
    return Outcome(changed, moved_on)


def outcome_message(action: str, outcome: Outcome) -> str:
    verb = ACTION_VERBS.get(action, action)
    noun = "job" if outcome.changed == 1 else "jobs"
    text = f"{outcome.changed} {noun} {verb}"
    if outcome.moved_on:
        text += (
            f"; {outcome.moved_on} had moved on to another state (or were removed) "
            "and were left alone"
        )
    text += "."
    if outcome.remaining:
        text += (
            f" Stopped after the time limit with {outcome.remaining} still matching: "
            "run the action again to continue."
        )
    return text


def act_on_recurring(client: Client, action: str, ids: Iterable[str]) -> tuple[str, list[str]]:
    """trigger / pause / resume / remove each recurring job: a message saying what happened,
    and the ids of the jobs a trigger created (the flash message links them)."""
    if action not in RECURRING_ACTIONS:
        raise ValueError(f"unknown recurring action {action!r}")
    done: list[str] = []
    created: list[str] = []
    missing = 0
    for recurring_id in dict.fromkeys(ids):
        if action == "trigger":
            try:
                created.append(client.recurring.trigger(recurring_id))
                done.append(recurring_id)
            except JobNotFoundError:
                missing += 1
            continue
        operation = getattr(client.recurring, action)
        if operation(recurring_id):
            done.append(recurring_id)
        else:
            missing += 1
    verbs = {"trigger": "triggered", "pause": "paused", "resume": "resumed", "remove": "removed"}
    noun = "recurring job" if len(done) == 1 else "recurring jobs"
    text = f"{len(done)} {noun} {verbs[action]}"
    if missing:
        text += f"; {missing} no longer existed"
    return text + ".", created[:10]
