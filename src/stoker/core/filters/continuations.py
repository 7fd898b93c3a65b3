"""Continuations: when a job reaches a state its children wait for, release them atomically."""

from __future__ import annotations

from stoker.core.state_machine import ElectionContext

# Awaiting children wait for one of these parent states; the storage releases (Enqueued) or
# deletes them in the same transaction as the parent's change, so a crash in between can never
# leave a child waiting for a parent that already finished.
RELEASING_STATES = frozenset({"Succeeded", "Failed", "Deleted"})


class ContinuationsFilter:
    """Asks the storage to resolve a job's Awaiting children when the job may release them."""

    def on_election(self, context: ElectionContext) -> None:
        if context.candidate.name in RELEASING_STATES:
            context.release_continuations = True

    def on_applied(self, context: ElectionContext) -> None:
        return None
