"""Tagged JSON encoding of job arguments and results: JSON only, never pickle."""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from stoker.core.errors import ArgumentEncodingError

# A tagged value is a one-key dict {"$tag": payload}. Plain dicts whose only key starts with "$"
# are escaped as {"$dict": {...}} so that user data can never be mistaken for a tag.
_TAG_PREFIX = "$"


def _encode_datetime(value: datetime) -> str:
    return value.isoformat()


_ENCODERS: list[tuple[type, str, Callable[[Any], Any]]] = [
    # Order matters: datetime is a subclass of date.
    (datetime, "datetime", _encode_datetime),
    (date, "date", lambda v: v.isoformat()),
    (time, "time", lambda v: v.isoformat()),
    (timedelta, "timedelta", lambda v: [v.days, v.seconds, v.microseconds]),
    (uuid.UUID, "uuid", str),
    (Decimal, "decimal", str),
    (bytes, "bytes", lambda v: base64.b64encode(v).decode("ascii")),
]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
    "timedelta": lambda p: timedelta(days=p[0], seconds=p[1], microseconds=p[2]),
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": lambda p: base64.b64decode(p.encode("ascii")),
}


def to_json_value(value: Any, path: str = "value") -> Any:
    """Turn `value` into plain JSON types with tags; raise naming `path` if it cannot be."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ArgumentEncodingError(
                f"{path}: {value!r} is not a finite number; JSON cannot hold it"
            )
        return value
    if isinstance(value, list):
        return [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, tuple):
        return {"$tuple": [to_json_value(item, f"{path}[{i}]") for i, item in enumerate(value)]}
    if isinstance(value, set | frozenset):
        # Sorted so that equal sets give equal JSON (stable ids in logs, dedup by text).
        items = [to_json_value(item, f"{path}{{item}}") for item in value]
        tag = "$frozenset" if isinstance(value, frozenset) else "$set"
        return {tag: sorted(items, key=lambda i: json.dumps(i, sort_keys=True))}
    if isinstance(value, dict):
        return _encode_dict(value, path)
    for kind, tag, encode in _ENCODERS:
        if isinstance(value, kind):
            return {_TAG_PREFIX + tag: encode(value)}
    raise ArgumentEncodingError(
        f"{path}: values of type {type(value).__qualname__} cannot be stored as a job argument "
        "or result; supported: None, bool, int, float, str, list, tuple, dict with str keys, set, "
        "frozenset, "
        "datetime, date, time, timedelta, UUID, Decimal, bytes"
    )


def _encode_dict(value: dict[Any, Any], path: str) -> Any:
    encoded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ArgumentEncodingError(
                f"{path}: dict keys must be str to be stored as JSON (got {type(key).__qualname__} "
                f"key {key!r})"
            )
        encoded[key] = to_json_value(item, f"{path}[{key!r}]")
    if len(encoded) == 1 and next(iter(encoded)).startswith(_TAG_PREFIX):
        return {"$dict": encoded}
    return encoded


def from_json_value(value: Any) -> Any:
    """Inverse of `to_json_value`."""
    if isinstance(value, list):
        return [from_json_value(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, payload),) = value.items()
        if key.startswith(_TAG_PREFIX):
            return _decode_tag(key[1:], payload)
    return {key: from_json_value(item) for key, item in value.items()}


def _decode_tag(tag: str, payload: Any) -> Any:
    if tag == "tuple":
        return tuple(from_json_value(item) for item in payload)
    if tag == "set":
        return {from_json_value(item) for item in payload}
    if tag == "frozenset":
        return frozenset(from_json_value(item) for item in payload)
    if tag == "dict":
        return {key: from_json_value(item) for key, item in payload.items()}
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ArgumentEncodingError(f"unknown tag ${tag} in stored JSON")
    return decoder(payload)


def dumps(value: Any, path: str = "value") -> str:
    """Encode `value` as compact tagged JSON text."""
    return json.dumps(to_json_value(value, path), separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Any:
    """Decode tagged JSON text made by `dumps`."""
    return from_json_value(json.loads(text))
