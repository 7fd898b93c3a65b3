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

    def interrupt(self, exc_type: type[BaseException]) -> None:
        """Raise `exc_type` inside the worker thread running a sync job.

        Holding `lock` while checking `done` guarantees the exception is never delivered after
        the job function returned and the worker moved on to the next job: the worker sets
        `done` under the same lock right after the call, and an exception set before that
        surfaces inside the worker's own bookkeeping, where it is caught as this job's failure.
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
        with self.lock:
            self.done = True


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
            if inspect.iscoroutine(result):  # a sync wrapper that returned a coroutine
                result.close()
                raise TypeError(f"{func!r} returned a coroutine; declare it `async def`")
            return result
        finally:
            running.finish()
    except JobTimeoutError:
        raise JobTimeoutError(_timeout_message(running)) from None
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
        return future.result()
    except (FutureCancelledError, asyncio.CancelledError):
        if running.timed_out:
            raise JobTimeoutError(_timeout_message(running)) from None
        raise JobCancelledError(f"job {running.context.id} was cancelled") from None
    finally:
        running.finish()


def _timeout_message(running: RunningJob) -> str:
    limit = running.context.params.get("timeout_s")
    return f"job {running.context.id} ran longer than its timeout of {limit} s"


def deadline_for(params: dict[str, Any] | Any) -> float | None:
    timeout = params.get("timeout_s") if hasattr(params, "get") else None
    return time.monotonic() + float(timeout) if timeout else None
