"""Deprecated location of the storage contract, kept for one release for third-party drivers.

Import from stoker.core.records, stoker.core.protocols and stoker.core.states instead.
"""

from __future__ import annotations

from stoker.core.protocols import Monitor, Storage
from stoker.core.records import (
    Claim,
    CounterIncrement,
    FetchedJob,
    JobDetails,
    JobRecord,
    LogLine,
    NewJob,
    RecurringRecord,
    SearchResult,
    ServerRecord,
    StateChange,
    StateRecord,
    same_but_arguments,
)
from stoker.core.states import FINAL_STATES, STATE_NAMES

__all__ = [
    "FINAL_STATES",
    "STATE_NAMES",
    "Claim",
    "CounterIncrement",
    "FetchedJob",
    "JobDetails",
    "JobRecord",
    "LogLine",
    "Monitor",
    "NewJob",
    "RecurringRecord",
    "SearchResult",
    "ServerRecord",
    "StateChange",
    "StateRecord",
    "Storage",
    "same_but_arguments",
]
