"""What a job is: an importable function, its options, and arguments checked at enqueue."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal, TypeVar, overload

from stoker.core import codec
from stoker.core.errors import ArgumentEncodingError, JobDefinitionError, JobNotAllowedError
from stoker.core.limits import parse_rate, validate_concurrency, validate_limit_key

F = TypeVar("F", bound=Callable[..., Any])
OnExhausted = Literal["fail", "delete"]
DEFAULT_QUEUE = "default"
DEFAULT_RETRIES = 10  # Hangfire's default number of automatic retries
# Job parameter: how often a server died while running the job. Every storage increments it
# when it requeues an orphan (requeue_orphaned_jobs); max_crashes fails a poison job.
CRASHES_PARAM = "crashes"
MAX_RETRY_DELAY_SECONDS = 10 * 366 * 24 * 3600  # beyond this a delay is surely a unit mistake
_OPTIONS_ATTRIBUTE = "__stoker_options__"


def crash_count(params: Mapping[str, Any]) -> int:
    """How often a server died while running the job (its CRASHES_PARAM, 0 if never)."""
    return int(params.get(CRASHES_PARAM, 0))


@dataclass(frozen=True)
class JobOptions:
    """Per-function defaults set with `@stoker.job(...)`, overridable per call via `with_options`.

    `None` means "not set here": the next layer (call → decorator → App defaults) decides.
    """

    queue: str | None = None
    retries: int | None = None
    retry_delays: tuple[float, ...] | None = None
    only_on: tuple[str, ...] | None = None  # exception class names or dotted paths
    except_on: tuple[str, ...] | None = None
    on_exhausted: OnExhausted | None = None
    timeout: timedelta | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    unique: bool | None = None  # key each job on its function and arguments (unique_key_of)
    # At most `concurrency` of its jobs (per `concurrency_key`, default the function) run at
    # once across all servers; at most `rate_limit` starts ("100/m") per `rate_key`.
    concurrency: int | None = None
    concurrency_key: str | None = None
    rate_limit: str | None = None
    rate_key: str | None = None

    def __post_init__(self) -> None:
        validate_options(self)

    def merged_over(self, base: JobOptions) -> JobOptions:
        """These options where set, `base` elsewhere."""
        values = {
            name: getattr(self, name) if getattr(self, name) is not None else getattr(base, name)
            for name in (
                "queue", "retries", "retry_delays", "only_on", "except_on",
                "concurrency", "concurrency_key", "rate_limit", "rate_key",
            )
        }  # fmt: skip
        return replace(
            base,
            **values,
            on_exhausted=self.on_exhausted or base.on_exhausted,
            timeout=self.timeout if self.timeout is not None else base.timeout,
            params={**base.params, **self.params},
            unique=self.unique if self.unique is not None else base.unique,
        )


def validate_options(options: JobOptions) -> None:
    """Reject bad options when they are written down, not when a job first fails."""
    if options.queue is not None:
        validate_queue_name(options.queue)
    if options.unique is not None and not isinstance(options.unique, bool):
        raise JobDefinitionError(f"unique must be True or False, got {options.unique!r}")
    validate_limits(
        options.concurrency, options.concurrency_key, options.rate_limit, options.rate_key
    )
    if options.retries is not None and (
        not isinstance(options.retries, int) or isinstance(options.retries, bool)
    ):
        raise JobDefinitionError(f"retries must be an int, got {options.retries!r}")
    if options.retries is not None and options.retries < 0:
        raise JobDefinitionError(f"retries must be >= 0, got {options.retries}")
    for delay in options.retry_delays or ():
        # math.isfinite rejects NaN and inf, which would otherwise reach datetime arithmetic
        # in a worker; bools are ints to Python but never meant as seconds.
        if (
            not isinstance(delay, int | float)
            or isinstance(delay, bool)
            or not math.isfinite(delay)
            or not 0 <= delay <= MAX_RETRY_DELAY_SECONDS
        ):
            raise JobDefinitionError(
                f"retry delays must be seconds between 0 and {MAX_RETRY_DELAY_SECONDS} "
                f"(10 years), got {delay!r}"
            )
    if options.on_exhausted not in (None, "fail", "delete"):
        raise JobDefinitionError(
            f"on_exhausted must be 'fail' or 'delete', got {options.on_exhausted!r}"
        )
    if options.timeout is not None and (
        not isinstance(options.timeout, timedelta) or options.timeout <= timedelta(0)
    ):
        raise JobDefinitionError(f"timeout must be a positive timedelta, got {options.timeout!r}")
    _check_params(options.params)


def validate_limits(
    concurrency: object, concurrency_key: object, rate_limit: object, rate_key: object
) -> None:
    """Each limit option that is set is well formed (stoker.core.limits)."""
    if concurrency is not None:
        validate_concurrency(concurrency)
    if concurrency_key is not None:
        validate_limit_key(concurrency_key, "concurrency key")
    if rate_limit is not None:
        parse_rate(rate_limit)
    if rate_key is not None:
        validate_limit_key(rate_key, "rate key")


def _check_params(params: Mapping[str, Any]) -> None:
    """Parameters are stored as plain JSON (no tags): refuse NaN, sets, dates... now."""
    try:
        json.dumps(dict(params), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ArgumentEncodingError(f"params must be plain JSON values: {exc}") from None


def validate_queue_name(queue: str) -> str:
    """Queue names are short identifiers so they are safe in keys, URLs and logs."""
    if not isinstance(queue, str) or not queue or len(queue) > 64:
        raise JobDefinitionError(
            f"a queue name is a non-empty string of at most 64 chars: {queue!r}"
        )
    if not all(ch.isalnum() or ch in "-_.:" for ch in queue):
        raise JobDefinitionError(
            f"queue name {queue!r} may only contain letters, digits and - _ . :"
        )
    return queue


IDEMPOTENCY_KEY_PARAM = "idempotency_key"  # the keys, kept in the job's params to be seen
UNIQUE_KEY_PARAM = "unique_key"
MAX_KEY = 200


def validate_idempotency_key(key: object) -> str:
    """An idempotency key is printable text of 1 to 200 characters (it is stored as a key)."""
    return _validate_key(key, "an idempotency key")


def validate_unique_key(key: object) -> str:
    """A unique key is printable text of 1 to 200 characters (it is stored as a key)."""
    return _validate_key(key, "a unique key")


def _validate_key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise JobDefinitionError(
            f"{what} is a non-empty string of at most {MAX_KEY} chars: {key!r}"
        )
    if not key.isprintable():
        raise JobDefinitionError(f"{what} must be printable text, got {key!r}")
    return key


def unique_key_of(function: str, args: str, kwargs: str) -> str:
    """The unique key of `@stoker.job(unique=True)`: the function and a digest of its encoded
    arguments, with keyword arguments in name order (f(a=1, b=2) is f(b=2, a=1))."""
    canonical = json.dumps([json.loads(args), json.loads(kwargs)], sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{function}({digest})"


def exception_names(types: Sequence[type[BaseException] | str] | None) -> tuple[str, ...] | None:
    """Exception classes as the names stored with a job (matched against the raised type's MRO)."""
    if types is None:
        return None
    if isinstance(types, str | type):
        types = (types,)  # `only_on=TimeoutError` means the one class, not its characters
    names = []
    for item in types:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, type) and issubclass(item, BaseException):
            names.append(f"{item.__module__}.{item.__qualname__}")
        else:
            raise JobDefinitionError(f"expected an exception class, got {item!r}")
    return tuple(names)


@overload
def job(func: F, /) -> F: ...
@overload
def job(
    *,
    queue: str | None = None,
    retries: int | None = None,
    retry_delays: Sequence[float] | None = None,
    only_on: Sequence[type[BaseException] | str] | None = None,
    except_on: Sequence[type[BaseException] | str] | None = None,
    on_exhausted: OnExhausted | None = None,
    timeout: timedelta | None = None,
    unique: bool | None = None,
    concurrency: int | None = None,
    concurrency_key: str | None = None,
    rate_limit: str | None = None,
    rate_key: str | None = None,
) -> Callable[[F], F]: ...
def job(
    func: F | None = None,
    /,
    *,
    queue: str | None = None,
    retries: int | None = None,
    retry_delays: Sequence[float] | None = None,
    only_on: Sequence[type[BaseException] | str] | None = None,
    except_on: Sequence[type[BaseException] | str] | None = None,
    on_exhausted: OnExhausted | None = None,
    timeout: timedelta | None = None,
    unique: bool | None = None,
    concurrency: int | None = None,
    concurrency_key: str | None = None,
    rate_limit: str | None = None,
    rate_key: str | None = None,
) -> F | Callable[[F], F]:
    """Mark a function as a job and give it defaults. The function stays callable as before.

    With `unique=True`, enqueueing it while a job of the same function with the same
    arguments is unfinished returns that job's id instead of making another. With
    `concurrency=N`, at most N of its jobs run at once across all servers (the others wait in
    Awaiting for a slot); with `rate_limit="100/m"`, at most 100 start per minute (the others
    are scheduled for their turn, in order). Both are keyed on the function unless
    `concurrency_key` / `rate_key` name a key shared with other functions."""
    options = JobOptions(
        queue=queue,
        retries=retries,
        retry_delays=tuple(retry_delays) if retry_delays is not None else None,
        only_on=exception_names(only_on),
        except_on=exception_names(except_on),
        on_exhausted=on_exhausted,
        timeout=timeout,
        unique=unique,
        concurrency=concurrency,
        concurrency_key=concurrency_key,
        rate_limit=rate_limit,
        rate_key=rate_key,
    )

    def mark(target: F) -> F:
        if not callable(target):
            raise JobDefinitionError(f"@stoker.job needs a function, got {target!r}")
        setattr(target, _OPTIONS_ATTRIBUTE, options)
        return target

    return mark(func) if func is not None else mark


def options_of(func: Callable[..., Any]) -> JobOptions:
    """The options `@stoker.job` gave `func` (empty options for an undecorated function)."""
    found = getattr(func, _OPTIONS_ATTRIBUTE, None)
    return found if isinstance(found, JobOptions) else JobOptions()


def is_marked(func: Callable[..., Any]) -> bool:
    return isinstance(getattr(func, _OPTIONS_ATTRIBUTE, None), JobOptions)


def function_path(func: Callable[..., Any]) -> str:
    """The `pkg.mod:qualname` a worker imports; refuse what another process cannot import."""
    if isinstance(func, functools.partial):
        raise JobDefinitionError("functools.partial cannot be a job; pass the arguments instead")
    if inspect.ismethod(func) and not isinstance(func.__self__, type):
        raise JobDefinitionError(
            f"{func!r} is a bound method; jobs must be module-level functions "
            "(or static/class methods reached through their class)"
        )
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not callable(func) or not module or not qualname:
        raise JobDefinitionError(f"{func!r} is not a function a worker can import")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise JobDefinitionError(
            f"{module}.{qualname} is a lambda or a nested function; a worker can only run "
            "functions defined at module level"
        )
    if module == "__main__":
        raise JobDefinitionError(
            f"{qualname} is defined in the __main__ script, which a worker process cannot "
            "import; move it into a module (e.g. tasks.py) and import it from there"
        )
    path = f"{module}:{qualname}"
    # `==`, not `is`: a classmethod is a new bound object on every attribute access.
    if resolve(path) != func:
        raise JobDefinitionError(f"{path} does not import back to {func!r}; is it shadowed?")
    return path


def check_allowed(path: str, allowed_modules: Sequence[str] | None) -> None:
    """Refuse a job path outside the allowlist BEFORE importing anything (an import can run code).

    Whoever can write to the storage can create jobs; the allowlist (and `require_marked_jobs`)
    keeps such a job from making a worker run `os:system` or any other importable callable.
    """
    if allowed_modules is None:
        return
    module_name = path.partition(":")[0]
    for allowed in allowed_modules:
        if module_name == allowed or module_name.startswith(allowed + "."):
            return
    raise JobNotAllowedError(
        f"{path} is outside the modules this App may run ({', '.join(allowed_modules)}); "
        "add its module to allowed_modules"
    )


def resolve(path: str) -> Callable[..., Any]:
    """Import `pkg.mod:qualname`; raise JobDefinitionError saying what is missing."""
    module_name, sep, qualname = path.partition(":")
    if not sep or not module_name or not qualname:
        raise JobDefinitionError(f"a job path looks like 'package.module:function', got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise JobDefinitionError(f"cannot import module {module_name!r} for {path}: {exc}") from exc
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise JobDefinitionError(f"{module_name!r} has no attribute {qualname!r}") from None
    if not callable(target):
        raise JobDefinitionError(f"{path} is not callable")
    return target  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Invocation:
    """A function call ready to store: the import path and the tagged-JSON arguments."""

    function: str
    args: str
    kwargs: str

    @classmethod
    def of(
        cls, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Invocation:
        """Check that the call can run later, exactly as given, in another process."""
        path = function_path(func)
        bind_arguments(func, path, args, kwargs)
        return cls(
            function=path,
            args=codec.dumps(list(args), "args"),
            kwargs=codec.dumps(dict(kwargs), "kwargs"),
        )

    def decoded(self) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = codec.loads(self.args)
        kwargs: dict[str, Any] = codec.loads(self.kwargs)
        return args, kwargs


def bind_arguments(
    func: Callable[..., Any], path: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """Fail now, naming the function, if the arguments do not fit its signature."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return  # builtins without a signature: the call itself will tell
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise JobDefinitionError(f"arguments do not match {path}{signature}: {exc}") from None
    for name, value in bound.arguments.items():
        try:
            codec.to_json_value(value, repr(name))
        except ArgumentEncodingError as exc:  # says where: "argument rows[3]['when']: ..."
            raise ArgumentEncodingError(f"{path}: argument {exc}") from None
