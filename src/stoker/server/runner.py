"""Run one job's function: sync in the worker thread, async on a shared loop; timeouts, cancels."""

from __future__ import annotations

import ctypes
import inspect
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import CancelledError as FutureCancelledError
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stoker.core.context import JobContext, bind, unbind
from stoker.core.errors import JobCancelledError, JobTimeoutError
from stoker.core.interrupts import bind_guard, unbind_guard
from stoker.core.job_filters import PerformFilter, performing
from stoker.core.log_fields import log_fields

if TYPE_CHECKING:
    import asyncio

# asyncio is imported when the first async job runs, not before: it costs a server process
# several MiB (asyncio, ssl) that a server of plain `def` jobs on SQLite never needs.

# Seconds between interrupts of a sync job that goes on after its timeout (it caught the
# exception, or was inside C code that swallowed it).
REINTERRUPT_INTERVAL = 1.0
# Python calls that give a pending asynchronous exception its chance to be raised (the
# interpreter checks for one when a Python function starts); see _take_pending.
_CHECKPOINTS = 100


class _Escaped(Exception):
    """Carries a BaseException an async job raised out of its task (see start_async)."""

    def __init__(self, caught: BaseException) -> None:
        super().__init__(repr(caught))
        self.caught = caught


class _Flush(BaseException):
    """Sent to a worker's own thread to take back a timeout interrupt that may be pending."""


def _checkpoint() -> None:
    return None


def _set_async_exc(thread_id: int, exc_type: type[BaseException] | None) -> None:
    # NULL (None) clears a pending exception. More than one thread state changed would be a
    # CPython bug; the documented remedy is to call again with NULL.
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )
    if changed > 1:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


def _take_pending() -> None:
    """Discard a timeout interrupt sent to this thread and not raised yet.

    Replacing it with our own exception and catching that is better than clearing it with
    NULL: on CPython 3.11 and 3.12 a NULL clear leaves the interpreter's "asynchronous
    exception" flag set, which slows every thread until another one is raised."""
    try:
        # Raised as soon as the interpreter looks, often on the way back from this very call.
        _set_async_exc(threading.get_ident(), _Flush)
        for _ in range(_CHECKPOINTS):
            _checkpoint()
    except _Flush:
        return
    _set_async_exc(threading.get_ident(), None)  # not raised (another interpreter): clear


@dataclass
class RunningJob:
    """A job in flight, as the supervisor sees it (for timeouts and cancellation).

    The supervisor sends a timeout interrupt only under `lock`, only while the call is not
    `done` and no shield is up; `finish` and `raise_shield` take back one that is still
    pending, under the same lock. So an interrupt reaches the job's own code, never the
    worker's bookkeeping after the call nor stoker's storage work inside it."""

    context: JobContext
    state_id: int
    thread_id: int
    timeout: float | None  # seconds, None without timeout
    deadline: float | None = None  # time.monotonic() value, set when the call starts
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    timed_out: bool = False
    future: Future[Any] | None = None
    last_interrupt: float | None = None
    pending: bool = False  # an interrupt was sent and may not have been raised yet
    shields: int = 0
    held: bool = False  # an interrupt fell due while a shield was up

    def start(self, future: Future[Any] | None = None) -> None:
        """The call begins now: its deadline runs from here."""
        with self.lock:
            self.future = future
            if self.timeout is not None:
                self.deadline = time.monotonic() + self.timeout

    def enforce_deadline(self, now: float) -> bool:
        """Interrupt the job if it is past its deadline: at once, then every
        REINTERRUPT_INTERVAL while it goes on. True the first time (the job just timed out)."""
        with self.lock:
            if self.deadline is None or now < self.deadline or self.done:
                return False
            first = not self.timed_out
            if first:
                self.timed_out = True
                self.context.cancel()
            elif (
                self.future is not None or now - (self.last_interrupt or now) < REINTERRUPT_INTERVAL
            ):
                return False  # an async job was cancelled once, for good
            self.last_interrupt = now
            self._interrupt_locked(JobTimeoutError)
            return first

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Raise `exc_type` inside the job (cancel the task of an async job)."""
        with self.lock:
            if not self.done:
                self._interrupt_locked(exc_type)

    def _interrupt_locked(self, exc_type: type[BaseException]) -> None:
        if self.future is not None:
            self.future.cancel()
        elif self.shields:
            self.held = True
        else:
            self.pending = True
            _set_async_exc(self.thread_id, exc_type)

    def landed(self) -> None:
        """The worker caught the interrupt: nothing is pending any more."""
        with self.lock:
            self.pending = False

    def finish(self) -> None:
        """Mark the call over (in the worker thread). A job that returns after its deadline
        counts as timed out even if the supervisor had not looked yet."""
        with self.lock:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.timed_out = True
            self.done = True
            if self.pending and self.future is None:
                self.pending = False
                _take_pending()

    def raise_shield(self) -> None:
        with self.lock:
            self.shields += 1
            if self.pending and self.future is None:
                self.pending, self.held = False, True
                _take_pending()

    def lower_shield(self) -> None:
        with self.lock:
            self.shields -= 1
            deliver = not self.shields and self.held and not self.done
            if deliver:
                self.held = False
        if deliver:
            raise JobTimeoutError(_timeout_message(self))


def settle(running: RunningJob) -> None:
    """`running.finish()`, even if an interrupt sent just before strikes while it starts."""
    while True:
        try:
            running.finish()
            return
        except JobTimeoutError:
            continue  # the call is over either way; finish() takes back any later one


_CANCEL_GRACE_S = 1.0  # how long a stopped server's cancelled tasks may take to end


class AsyncLoop:
    """One event loop thread per server, shared by every async job."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._stopped:  # never a second loop once the server shut down
                raise RuntimeError("the server has stopped; it starts no more async jobs")
            if self._loop is None:
                import asyncio

                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=_run_loop, args=(self._loop,), name="stoker-async", daemon=True
                )
                self._thread.start()
            return self._loop

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Run the server's event loop until it is stopped, then end every task still on it.

    A job handed over just as the server stopped may have its task started only now, after
    the stop: each is cancelled (the shutdown gave its job back to its queue) and given a
    moment to run its `finally` blocks, so no coroutine is left un-awaited or destroyed."""

    loop.run_forever()
    try:
        loop.run_until_complete(_cancel_tasks())
    finally:
        loop.close()


async def _cancel_tasks() -> None:
    import asyncio

    await asyncio.sleep(0)  # tasks whose start was scheduled after the stop start now
    tasks = asyncio.all_tasks() - {asyncio.current_task()}
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=_CANCEL_GRACE_S)


def run_job(
    func: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    running: RunningJob,
    async_loop: AsyncLoop,
    filters: Sequence[PerformFilter] = (),
) -> Any:
    """Call the job function inside the perform `filters`; raise JobTimeoutError on timeout,
    JobCancelledError if cancelled."""
    if inspect.iscoroutinefunction(func):
        return _run_async(func, args, kwargs, running, async_loop, filters)
    token, guard = bind(running.context), bind_guard(running)
    try:
        if not filters:
            return _call_sync(func, args, kwargs, running)
        # Around the whole call: the filters start before the deadline does and end after the
        # call is settled, so no timeout interrupt can strike inside a filter.
        with performing(filters, running.context):
            return _call_sync(func, args, kwargs, running)
    finally:
        unbind_guard(guard)
        unbind(token)


def _call_sync(
    func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], running: RunningJob
) -> Any:
    try:
        running.start()
        result = func(*args, **kwargs)
    except BaseException as exc:
        if isinstance(exc, JobTimeoutError):
            running.landed()
        settle(running)
        if running.timed_out:  # whatever it raised, it did so after its time was up
            cause = None if isinstance(exc, JobTimeoutError) else exc
            raise JobTimeoutError(_timeout_message(running)) from cause
        raise
    settle(running)
    _check_returned_in_time(running)  # it may have caught the interrupt
    if inspect.iscoroutine(result):  # a sync wrapper that returned a coroutine
        result.close()
        raise TypeError(f"{func!r} returned a coroutine; declare it `async def`")
    return result


def _run_async(
    func: Callable[..., Coroutine[Any, Any, Any]],
    args: list[Any],
    kwargs: dict[str, Any],
    running: RunningJob,
    async_loop: AsyncLoop,
    filters: Sequence[PerformFilter],
) -> Any:
    """An async job run to its end from the worker's thread (a job that must run alone)."""
    future = start_async(func, args, kwargs, running, async_loop, filters)
    wait_futures([future])
    return async_result(future, running)


def start_async(
    func: Callable[..., Coroutine[Any, Any, Any]],
    args: list[Any],
    kwargs: dict[str, Any],
    running: RunningJob,
    async_loop: AsyncLoop,
    filters: Sequence[PerformFilter] = (),
) -> Future[Any]:
    """Start an async job as a task on the server's event loop, inside the perform `filters`
    (entered in the task, so what they make current is the job's); its deadline runs from now."""
    import asyncio

    async def wrapper() -> Any:
        bind(running.context)  # each task runs in its own copy of the context
        try:
            if not filters:
                return await func(*args, **kwargs)
            with performing(filters, running.context):
                return await func(*args, **kwargs)
        except (Exception, asyncio.CancelledError, GeneratorExit):
            raise  # GeneratorExit: a task left on a closed loop is having its coroutine closed
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt, JobTimeoutError...: raised out of a task they
            # would stop the event loop that every async job of this server shares.
            raise _Escaped(exc) from exc

    loop = async_loop.loop()  # first: a stopped server raises before the coroutine exists
    coroutine = wrapper()
    try:
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    except BaseException:
        coroutine.close()  # never scheduled: close it rather than leave it un-awaited
        raise
    # The future is known before the deadline starts: a timeout always cancels the task.
    running.start(future)
    return future


def async_result(future: Future[Any], running: RunningJob) -> Any:
    """The outcome of a finished async job: its result, or JobTimeoutError (it was cancelled
    at its deadline, or returned after it), JobCancelledError, or what the job raised."""
    import asyncio

    try:
        result = future.result(timeout=0)
    except _Escaped as escaped:
        running.finish()
        raise escaped.caught from None
    except (FutureCancelledError, asyncio.CancelledError):
        running.finish()
        if running.timed_out:
            raise JobTimeoutError(_timeout_message(running)) from None
        raise JobCancelledError(f"job {running.context.id} was cancelled") from None
    except BaseException as exc:
        running.finish()
        if running.timed_out:
            raise JobTimeoutError(_timeout_message(running)) from exc
        raise
    running.finish()
    _check_returned_in_time(running)
    return result


def _check_returned_in_time(running: RunningJob) -> None:
    """A call that returned after its deadline (it caught the interrupt, or the supervisor
    had not looked yet) is a timeout all the same."""
    if running.timed_out:
        raise JobTimeoutError(_timeout_message(running) + "; its return value is dropped")


def _timeout_message(running: RunningJob) -> str:
    limit = running.context.params.get("timeout_s")
    return f"job {running.context.id} ran longer than its timeout of {limit} s"


def job_log_fields(server_id: str, running: RunningJob) -> dict[str, str | None]:
    """The log `extra` fields of a line about `running` on server `server_id`."""
    job = running.context
    return log_fields(server_id, job.id, job.function, job.queue)


def timeout_of(params: dict[str, Any] | Any) -> float | None:
    """The job's timeout in seconds (its `timeout_s` parameter), None without one."""
    timeout = params.get("timeout_s") if hasattr(params, "get") else None
    return float(timeout) if timeout else None
