"""State filters: one feature per module, each taking part in every state change."""

from __future__ import annotations

from stoker.core.filters.continuations import ContinuationsFilter
from stoker.core.filters.retry import RetryFilter, retry_delay
from stoker.core.filters.statistics import StatisticsFilter, stats_keys

__all__ = ["ContinuationsFilter", "RetryFilter", "StatisticsFilter", "retry_delay", "stats_keys"]
