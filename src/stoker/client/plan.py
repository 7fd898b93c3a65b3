"""The per-function half of an enqueue, worked out once and reused for every call.

Checking that a function can be imported back by a worker (which imports its module), reading
its signature and merging its options with the client's costs more than storing a small job.
None of it depends on the arguments, so a Client keeps one `EnqueuePlan` per function and only
binds and encodes the arguments per call: every error an enqueue raised before is still raised
at enqueue time, from the plan (made on first use) or from the arguments.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stoker.core import codec
from stoker.core.errors import ArgumentEncodingError, JobDefinitionError, JobNotAllowedError
from stoker.core.jobs import (
    _OPTIONS_ATTRIBUTE,
    Invocation,
    JobOptions,
    bind_arguments,
    check_allowed,
    function_path,
    is_marked,
    options_of,
)
from stoker.core.limits import limit_params
from stoker.core.runtime import Runtime

# Enough for every job function of an application; a program that enqueues an unbounded number
# of distinct callables only loses the cache (it is cleared when full), never correctness.
MAX_PLANS = 1024
MAX_SHAPES = 64


@dataclass(frozen=True)
class PreparedCall:
    """One checked and encoded call of a job function, with the queue and params it gets."""

    invocation: Invocation
    options: JobOptions
    queue: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class EnqueuePlan:
    """What enqueueing one function needs apart from the arguments."""

    # The inputs the plan was made from (App settings and the function's @job options object):
    # a plan whose inputs changed since is made again, so it never goes stale.
    inputs: tuple[Any, ...]
    func: Callable[..., Any]
    function: str
    signature: inspect.Signature | None
    options: JobOptions
    queue: str
    params: Mapping[str, Any]
    # Call shapes (number of positional arguments, keyword names) known to bind.
    shapes: set[tuple[Any, ...]] = field(default_factory=set, compare=False)

    def encode(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, str]:
        """Bind the arguments to the signature and encode them; raise naming the culprit."""
        # Whether arguments bind depends only on their number and the keyword names, never on
        # the values: a call shape that bound once binds again (a bulk enqueue binds once).
        shape = (len(args), *kwargs)
        if self.signature is not None and shape not in self.shapes:
            try:
                self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise JobDefinitionError(
                    f"arguments do not match {self.function}{self.signature}: {exc}"
                ) from None
            if len(self.shapes) < MAX_SHAPES:
                self.shapes.add(shape)
        try:
            return _encode_args(args), _encode_kwargs(kwargs)
        except ArgumentEncodingError:
            # Encode argument by argument only on failure: the error then names the parameter
            # ("argument 'when': ...") exactly as before the plan existed.
            bind_arguments(self.func, self.function, args, kwargs)
            raise


def _plain(value: Any) -> bool:
    """A value whose JSON is its tagged JSON too (no tag, nothing to check inside)."""
    kind = type(value)
    return (
        kind is str
        or kind is int
        or kind is bool
        or value is None
        or (kind is float and math.isfinite(value))
    )


def _encode_args(args: Sequence[Any]) -> str:
    if not args:
        return "[]"
    if all(_plain(value) for value in args):
        return json.dumps(list(args), separators=(",", ":"), ensure_ascii=False)
    return codec.dumps(list(args), "args")


def _encode_kwargs(kwargs: Mapping[str, Any]) -> str:
    if not kwargs:
        return "{}"
    # A key starting with "$" is escaped by the codec (it could read as a tag).
    if all(_plain(value) and not key.startswith("$") for key, value in kwargs.items()):
        return json.dumps(dict(kwargs), separators=(",", ":"), ensure_ascii=False)
    return codec.dumps(dict(kwargs), "kwargs")


def plan_inputs(runtime: Runtime, func: Callable[..., Any]) -> tuple[Any, ...]:
    """Everything outside the Client's own (immutable) options that a plan depends on."""
    return (
        runtime.require_marked_jobs,
        runtime.allowed_modules,
        runtime.default_queue,
        runtime.default_retries,
        getattr(func, _OPTIONS_ATTRIBUTE, None),
    )


def make_plan(
    runtime: Runtime, func: Callable[..., Any], call_options: JobOptions, inputs: tuple[Any, ...]
) -> EnqueuePlan:
    """Check `func` and merge its options under the client's `call_options`."""
    if runtime.require_marked_jobs and not is_marked(func):
        raise JobNotAllowedError(
            f"{getattr(func, '__qualname__', func)!r} is not marked with @stoker.job and this "
            "App only runs marked functions (require_marked_jobs=True)"
        )
    path = function_path(func)
    check_allowed(path, runtime.allowed_modules)
    try:
        signature: inspect.Signature | None = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None  # builtins without a signature: the call itself will tell
    options = call_options.merged_over(options_of(func))
    return EnqueuePlan(
        inputs=inputs,
        func=func,
        function=path,
        signature=signature,
        options=options,
        queue=options.queue or runtime.default_queue,
        params=job_params(options, runtime.default_retries),
    )


def job_params(options: JobOptions, default_retries: int) -> dict[str, Any]:
    """The parameters stored with a job made with these options."""
    params: dict[str, Any] = dict(options.params)
    params["retries"] = options.retries if options.retries is not None else default_retries
    optional = {
        "retry_delays": list(options.retry_delays) if options.retry_delays is not None else None,
        "only_on": list(options.only_on) if options.only_on is not None else None,
        "except_on": list(options.except_on) if options.except_on is not None else None,
        "on_exhausted": options.on_exhausted,
        "timeout_s": options.timeout.total_seconds() if options.timeout is not None else None,
    }
    params.update({key: value for key, value in optional.items() if value is not None})
    params.update(
        limit_params(
            options.concurrency, options.concurrency_key, options.rate_limit, options.rate_key
        )
    )
    return params


__all__ = ["MAX_PLANS", "EnqueuePlan", "PreparedCall", "job_params", "make_plan", "plan_inputs"]
