"""The job-creating half of the API: enqueue, continue, requeue, delete, look up, recurring."""

from __future__ import annotations

from stoker.client.client import CallOptions, Client
from stoker.client.recurring import RecurringJobs

__all__ = ["CallOptions", "Client", "RecurringJobs"]
