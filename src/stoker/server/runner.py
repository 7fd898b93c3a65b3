"""Run one job's function: sync in the worker thread, async on a shared loop; timeouts, cancels."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError as FutureCancelledError
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from stoker.context import JobContext, bind, unbind
from stoker.errors import JobCancelledError, JobTimeoutError

# Seconds between interrupts of a sync job that goes on after its timeout (it caught the
# exception, or was inside C code that swallowed it).
REINTERRUPT_INTERVAL = 1.0


@dataclass
class RunningJob:
    """A job in flight, as the supervisor sees it (for timeouts and cancellation)."""

    context: JobContext
    state_id: int
    thread_id: int
    deadline: float | None  # time.monotonic() value, None without timeout
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    timed_out: bool = False
    future: Future[Any] | None = None
    last_interrupt: float | None = None

    def enforce_deadline(self, now: float) -> bool:
        """Interrupt the job if it is past its deadline: at once, then every
        REINTERRUPT_INTERVAL while it goes on. True the first time (the job just timed out)."""
        if self.deadline is None or now < self.deadline or self.done:
            return False
        first = not self.timed_out
        if first:
            self.timed_out = True
            self.context.cancel()
        elif self.future is not None or now - (self.last_interrupt or now) < REINTERRUPT_INTERVAL:
            return False  # an async job was cancelled once, for good
        self.last_interrupt = now
        self.interrupt(JobTimeoutError)
        return first

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Raise `exc_type` inside the worker thread running a sync job.

        Sent only under `lock` while `done` is false, and `finish` clears a pending one under
        the same lock: an interrupt never reaches the worker after the job's call is over, in
        its own bookkeeping or in the next job.
        """
        with self.lock:
            if self.done:
                return
            if self.future is not None:
                self.future.cancel()
                return
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.thread_id), ctypes.py_object(exc_type)
            )

    def finish(self) -> None:
        """Mark the call over (from the worker thread). A job that returns after its deadline
        counts as timed out even if the supervisor had not looked yet."""
        while True:
            try:
                with self.lock:
                    if self.deadline is not None and time.monotonic() >= self.deadline:
                        self.timed_out = True
                    self.done = True
                    if self.last_interrupt is not None and self.future is None:
                        # NULL clears an interrupt sent but not yet raised in this thread.
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(self.thread_id), None
                        )
                return
            except JobTimeoutError:
                continue  # an interrupt sent just before landed here: the call is over anyway


class AsyncLoop:
    """One event loop thread per server, shared by every async job."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="stoker-async", daemon=True
                )
                self._thread.start()
            return self._loop

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


def run_job(
    func: Callable[..., Any],
    args: list[Any],
    kwargs: dict[str, Any],
    running: RunningJob,
    async_loop: AsyncLoop,
) -> Any:
    """Call the job function; raise JobTimeoutError on timeout, JobCancelledError if cancelled."""
    if inspect.iscoroutinefunction(func):
        return _run_async(func, args, kwargs, running, async_loop)
    token = bind(running.context)
    try:
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            running.finish()
            if running.timed_out:  # whatever it raised, it did so after its time was up
                cause = None if isinstance(exc, JobTimeoutError) else exc
                raise JobTimeoutError(_timeout_message(running)) from cause
            raise
        running.finish()
        if running.timed_out:  # it caught the interrupt, or returned just past its deadline
            raise JobTimeoutError(_timeout_message(running) + "; its return value is dropped")
        if inspect.iscoroutine(result):  # a sync wrapper that returned a coroutine
            result.close()
            raise TypeError(f"{func!r} returned a coroutine; declare it `async def`")
        return result
    finally:
        unbind(token)


def _run_async(
    func: Callable[..., Coroutine[Any, Any, Any]],
    args: list[Any],
    kwargs: dict[str, Any],
    running: RunningJob,
    async_loop: AsyncLoop,
) -> Any:
    async def wrapper() -> Any:
        bind(running.context)  # each task runs in its own copy of the context
        return await func(*args, **kwargs)

    with running.lock:
        future = asyncio.run_coroutine_threadsafe(wrapper(), async_loop.loop())
        running.future = future
    try:
        result = future.result()
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
    if running.timed_out:  # returned just past its deadline, before the supervisor looked
        raise JobTimeoutError(_timeout_message(running) + "; its return value is dropped")
    return result


def _timeout_message(running: RunningJob) -> str:
    limit = running.context.params.get("timeout_s")
    return f"job {running.context.id} ran longer than its timeout of {limit} s"


def deadline_for(params: dict[str, Any] | Any) -> float | None:
    timeout = params.get("timeout_s") if hasattr(params, "get") else None
    return time.monotonic() + float(timeout) if timeout else None
