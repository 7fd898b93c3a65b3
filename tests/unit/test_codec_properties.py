"""Property: any nesting of supported values survives the tagged JSON codec unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stoker.core import codec

AWARE_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.binary(max_size=50),
    st.datetimes(),
    st.datetimes(timezones=AWARE_ZONES),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
)

HASHABLE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=10), st.uuids(), st.dates()
)

VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.sets(HASHABLE, max_size=4),
        st.tuples(HASHABLE, HASHABLE).flatmap(lambda pair: st.just(frozenset({pair}))),
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down (1 == 1.0 == True is not good enough)."""
    if isinstance(a, frozenset):  # a set or a frozenset back: both are fine for a job
        return isinstance(b, set | frozenset) and a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Decimal):
        return bool(a == b) and a.as_tuple() == b.as_tuple()
    return bool(a == b) and getattr(a, "tzinfo", None) == getattr(b, "tzinfo", None)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_codec_round_trips_nested_supported_values(value: Any) -> None:
    text = codec.dumps(value)
    json.loads(text)  # always plain JSON text
    assert same(value, codec.loads(text))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6).map(lambda k: "$" + k), VALUES, max_size=3))
def test_user_dicts_with_dollar_keys_are_never_mistaken_for_tags(value: dict[str, Any]) -> None:
    assert same(value, codec.loads(codec.dumps(value)))


@settings(max_examples=100, deadline=None)
@given(st.uuids())
def test_uuid_text_is_canonical(value: uuid.UUID) -> None:
    assert codec.dumps(value) == json.dumps({"$uuid": str(value)}, separators=(",", ":"))
