"""State filters: one feature per module, each taking part in every state change."""

from __future__ import annotations

from stoker.filters.continuations import ContinuationsFilter
from stoker.filters.retry import RetryFilter, retry_delay
from stoker.filters.statistics import StatisticsFilter, stats_keys

__all__ = ["ContinuationsFilter", "RetryFilter", "StatisticsFilter", "retry_delay", "stats_keys"]
