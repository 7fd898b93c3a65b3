"""Cron expressions in words ("At 03:00, every day") for the Recurring Jobs page."""

from __future__ import annotations

from functools import lru_cache

from cron_descriptor import ExpressionDescriptor, Options

from stoker.core.cron import MACROS


@lru_cache(maxsize=1024)
def describe(expression: str) -> str:
    """The expression in English; the expression itself if it cannot be described.

    6-field expressions carry seconds first, as in stoker's own parser (and cron-descriptor).
    """
    text = " ".join(expression.split())
    expanded = MACROS.get(text.lower(), text)
    options = Options()
    options.use_24hour_time_format = True
    try:
        described = ExpressionDescriptor(expanded, options).get_description()
    except Exception:  # cron-descriptor raises many types for odd input; words are optional
        return text
    words = str(described)
    if words.startswith("At ") and "," not in words:
        # Non-verbose output drops "every day" from a plain daily time; verbose output would
        # add "every hour, every day" to "Every 15 minutes" too.
        words += ", every day"
    return words or text
