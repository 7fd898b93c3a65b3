"""Importable job functions the unit tests enqueue (a worker process could import them too)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import stoker


def add(a: int, b: int = 0) -> int:
    return a + b


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def takes_value(value: Any) -> Any:
    return value


def with_options_named_like_ours(queue: str, retries: int, timeout: float) -> str:
    """A job whose own parameters are called like stoker's per-call options."""
    return f"{queue}/{retries}/{timeout}"


@stoker.job
def marked_bare(x: int) -> int:
    return x


@stoker.job()
def marked_empty(x: int) -> int:
    return x


@stoker.job(queue="mail", retries=2, retry_delays=[5, 7], on_exhausted="delete")
def marked_with_options(x: int) -> int:
    return x


@stoker.job(only_on=[ValueError])
def retried_only_on_value_error() -> None:
    raise ValueError("only this is retried")


def _decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


@_decorator
def wrapped_with_functools(x: int) -> int:
    return x


class Holder:
    """Methods reached through a class, and one reached through an instance."""

    @staticmethod
    def static(x: int) -> int:
        return x

    @classmethod
    def klass(cls, x: int) -> int:
        return x

    def method(self, x: int) -> int:
        return x


def make_nested() -> Callable[[int], int]:
    def nested(x: int) -> int:
        return x

    return nested


def shadowed(x: int) -> int:
    return x


ORIGINAL_SHADOWED = shadowed


def shadowed(x: int) -> int:  # type: ignore[no-redef]  # the name now means another function
    return x + 1


LAMBDA = lambda x: x  # noqa: E731  # a module-level lambda is still a lambda


@stoker.job(unique=True)
def unique_add(a: int, b: int = 0) -> int:
    return a + b
