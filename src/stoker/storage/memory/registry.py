"""Which in-memory data a `memory://` URL names: private, or shared by name within the process."""

from __future__ import annotations

import re
import threading
from typing import Any

from stoker.core.errors import StorageURLError
from stoker.storage.memory.data import MemoryData

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_lock = threading.Lock()
# name -> (its data, how many open storages use it); forgotten when the last one closes.
_named: dict[str, tuple[MemoryData, int]] = {}


def parse_memory_url(url: str, options: dict[str, Any]) -> str:
    """The name in `memory://<name>` ("" for `memory://`: private data)."""
    scheme, _, name = url.partition("://")
    if scheme.lower() != "memory":
        raise StorageURLError(f"not a memory:// URL: {url!r}")
    if options or "?" in name:
        given = ", ".join(sorted(options)) or name.partition("?")[2]
        raise StorageURLError(f"the memory storage takes no options (got {given})")
    return check_name(name)


def check_name(name: str) -> str:
    """`name` if it can name shared data ("" names private data); StorageURLError if not."""
    if name and not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise StorageURLError(
            f"bad memory storage name {name!r}: use letters, digits, '.', '_' and '-' (at "
            "most 200, starting with a letter or digit), e.g. memory://tests"
        )
    return name


def acquire(name: str) -> MemoryData:
    """The data of `name` (new if no open storage uses it); private, new data for ""."""
    if not name:
        return MemoryData("")
    with _lock:
        data, users = _named.get(name, (None, 0))
        if data is None:
            data = MemoryData(name)
        _named[name] = (data, users + 1)
        return data


def release(data: MemoryData) -> None:
    """A storage of `data` closed: the last one of a name forgets its data."""
    if not data.name:
        return
    with _lock:
        found, users = _named.get(data.name, (None, 0))
        if found is not data:
            return
        if users <= 1:
            del _named[data.name]
        else:
            _named[data.name] = (data, users - 1)
