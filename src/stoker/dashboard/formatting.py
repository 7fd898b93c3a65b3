"""Turning stored values into short human text: times, durations, calls, JSON, results."""

from __future__ import annotations

import json
import reprlib
from datetime import datetime, timedelta
from typing import Any

from stoker.core import codec

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def short_function(function: str) -> str:
    """'app.mail:send_welcome' -> 'send_welcome' (the module is shown beside it, smaller)."""
    return function.rpartition(":")[2] or function


def module_of(function: str) -> str:
    module, sep, _ = function.rpartition(":")
    return module if sep else ""


def decode(text: str) -> Any:
    """Tagged JSON text as Python values; the raw text if it cannot be decoded."""
    try:
        return codec.loads(text)
    except (ValueError, TypeError, KeyError):
        return text


def short_repr(value: Any) -> str:
    return _SHORT.repr(value)


def call_summary(function: str, args: str, kwargs: str, limit: int = 160) -> str:
    """`send_welcome(42, to='a@b.c')`, cut to `limit` characters."""
    positional = decode(args)
    named = decode(kwargs)
    parts = [short_repr(value) for value in positional] if isinstance(positional, list) else []
    if isinstance(named, dict):
        parts += [f"{key}={short_repr(value)}" for key, value in named.items()]
    text = f"{short_function(function)}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def visible(text: str) -> str:
    """`text` with every invisible character (bidi overrides such as U+202E, zero-width and
    other format or control characters) written as its `\\u` escape (`\\u202e`), so that
    what is shown is what is stored: a right-to-left override cannot reorder the text around
    it. JSON strings only hold such characters inside quotes, where the escape means the same
    character."""
    if text.isprintable():
        return text
    return "".join(ch if ch == "\n" or ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def pretty_json(text: str) -> str:
    """Stored JSON text indented for reading (invisible characters escaped); the text itself
    if it is not JSON."""
    try:
        return visible(json.dumps(json.loads(text), indent=2, ensure_ascii=False))
    except ValueError:
        return visible(text)


def pretty_value(value: Any) -> str:
    try:
        return visible(json.dumps(value, indent=2, ensure_ascii=False))
    except (TypeError, ValueError):
        return repr(value)


def result_text(tagged: Any, limit: int = 120) -> str:
    """A Succeeded job's result (tagged JSON value) as a short Python repr."""
    try:
        value = codec.from_json_value(tagged)
    except (ValueError, TypeError, KeyError):
        value = tagged
    text = short_repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: float) -> str:
    """3 ms, 1.2 s, 4 min 5 s, 3 h 2 min, 2 d 4 h."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def fmt_ms(milliseconds: Any) -> str:
    if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool):
        return "—"
    return fmt_duration(milliseconds / 1000)


def relative(moment: datetime | None, now: datetime) -> str:
    """'3 min ago', 'in 2 h', 'just now'."""
    if moment is None:
        return "—"
    delta = (moment - now).total_seconds()
    if abs(delta) < 1:
        return "just now"
    text = fmt_duration(round(delta))
    return f"in {text}" if delta > 0 else f"{text} ago"


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def between(earlier: datetime, later: datetime) -> str:
    return fmt_duration((later - earlier) / timedelta(seconds=1))
