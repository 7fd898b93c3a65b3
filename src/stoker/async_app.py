"""AsyncApp: awaitable twins of the App's client calls, for asyncio code (FastAPI, Starlette)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from stoker.app import App
from stoker.client import Client
from stoker.client.batches import Batch
from stoker.client.recurring import RecurringJobs
from stoker.client.waiting import (
    WaitPlan,
    check_job_id,
    current_state,
    settled_info,
    settled_watch,
    timeout_seconds,
)
from stoker.core.batches import BatchRecord
from stoker.core.job_info import JobInfo
from stoker.core.protocols import Storage
from stoker.core.records import RecurringRecord
from stoker.core.states import SETTLED_STATES as SETTLED

P = ParamSpec("P")
R = TypeVar("R")
# Storage calls run on threads of the AsyncApp's own, never on the event loop: enough for a
# web process's concurrent requests, few enough to keep the storage's connection pool sane.
DEFAULT_THREADS = 8


class _Calls:
    """Runs the blocking client calls on the AsyncApp's threads, awaited from the loop."""

    def __init__(self, threads: int) -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="stoker-client")

    async def run(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        # In the caller's context variables, as asyncio.to_thread does: a creation filter
        # must see what is current where the call was awaited (the request's span, say).
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(self.executor, call)


class AsyncBatch:
    """`App.batch` for `async with`: the block collects jobs (no storage call), its end
    creates them on a thread of the AsyncApp."""

    def __init__(self, batch: Batch, calls: _Calls) -> None:
        self.batch = batch
        self._calls = calls

    async def __aenter__(self) -> Batch:
        return self.batch.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self._calls.run(self.batch.__exit__, kind, error, trace)


class AsyncApp:
    """An App for asyncio code: every call that touches the storage is awaited, and runs on a
    thread of the AsyncApp's own, so the event loop never blocks on the database.

        jobs = stoker.AsyncApp("postgresql://…")        # the App's arguments, or an App
        job_id = await jobs.enqueue(send_welcome, user_id)
        info = await jobs.wait(job_id, timeout=30)

    Arguments are checked as `App.enqueue` checks them (errors are raised by the await).
    `await jobs.aclose()` (or `async with`) releases the threads and the storage.
    """

    def __init__(
        self,
        storage: str | App | Storage | None = None,
        *,
        threads: int = DEFAULT_THREADS,
        **app_options: Any,
    ) -> None:
        self._calls = _Calls(threads)  # checked before a storage is opened
        if isinstance(storage, App):
            if app_options:
                raise TypeError("pass App options to the App, not to AsyncApp(app)")
            self.app = storage
        else:
            self.app = App(storage, **app_options)
        self._client: Client = self.app

    @classmethod
    def _view(cls, app: App, client: Client, calls: _Calls) -> AsyncApp:
        view = cls.__new__(cls)
        view.app, view._client, view._calls = app, client, calls
        return view

    def with_options(self, **options: Any) -> AsyncApp:
        """The same per-call options as `App.with_options` (checked now, no storage call)."""
        return AsyncApp._view(self.app, self._client.with_options(**options), self._calls)

    @property
    def recurring(self) -> AsyncRecurringJobs:
        return AsyncRecurringJobs(self._client.recurring, self._calls)

    async def enqueue(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        return await self._calls.run(self._client.enqueue, func, *args, **kwargs)

    async def enqueue_in(
        self, delay: timedelta | float, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        return await self._calls.run(self._client.enqueue_in, delay, func, *args, **kwargs)

    async def enqueue_at(
        self, when: datetime, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        return await self._calls.run(self._client.enqueue_at, when, func, *args, **kwargs)

    async def enqueue_many(
        self, func: Callable[..., Any], calls: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> list[str]:
        """All the jobs in one transaction, as `App.enqueue_many` (the items are read first)."""
        calls = list(calls)  # a generator is read here, not on another thread
        return await self._calls.run(self._client.enqueue_many, func, calls)

    async def continue_with(
        self, parent_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        return await self._calls.run(self._client.continue_with, parent_id, func, *args, **kwargs)

    async def requeue(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool:
        run = functools.partial(self._client.requeue, expected_state=expected_state)
        return await self._calls.run(run, job_id, reason=reason)

    async def delete(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool:
        run = functools.partial(self._client.delete, expected_state=expected_state)
        return await self._calls.run(run, job_id, reason=reason)

    async def get_job(self, job_id: str) -> JobInfo | None:
        return await self._calls.run(self._client.get_job, job_id)

    def batch(self, description: str = "") -> AsyncBatch:
        """`async with jobs.batch("import") as batch:` then `batch.enqueue(...)` and the other
        calls of `App.batch` (they only collect jobs); the jobs are created when the block
        ends, on a thread of this AsyncApp."""
        return AsyncBatch(self._client.batch(description), self._calls)

    async def continue_batch_with(
        self, batch_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        run = self._client.continue_batch_with
        return await self._calls.run(run, batch_id, func, *args, **kwargs)

    async def continue_batch_if_succeeded(
        self, batch_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        run = self._client.continue_batch_if_succeeded
        return await self._calls.run(run, batch_id, func, *args, **kwargs)

    async def get_batch(self, batch_id: str) -> BatchRecord | None:
        return await self._calls.run(self._client.get_batch, batch_id)

    async def delete_batch(self, batch_id: str) -> int:
        return await self._calls.run(self._client.delete_batch, batch_id)

    async def requeue_batch(self, batch_id: str) -> int:
        return await self._calls.run(self._client.requeue_batch, batch_id)

    async def wait(self, job_id: str, timeout: float | timedelta | None = None) -> JobInfo:
        """The job once it is Succeeded, Failed or Deleted (see `App.wait`); waiting holds no
        thread: only each look at the storage runs on one."""
        check_job_id(job_id)
        timeout_seconds(timeout)
        monitor = self.app.storage
        woken = asyncio.Event()
        wake = functools.partial(_set_soon, asyncio.get_running_loop(), woken)
        with settled_watch(monitor, job_id, wake) as notified:
            plan = WaitPlan(job_id, timeout, notified=notified)
            while True:
                woken.clear()  # before the read: a notice sent after it ends the next pause
                state = await self._calls.run(current_state, monitor, job_id)
                if state in SETTLED:
                    break
                pause = plan.pause(state)  # JobWaitTimeoutError, a TimeoutError: not below
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), pause)
        return await self._calls.run(settled_info, monitor, job_id)

    async def aclose(self) -> None:
        """Release the threads, then the storage's connections (also of an App passed in:
        the AsyncApp owns it from then on). Calls after this raise RuntimeError."""
        await asyncio.get_running_loop().run_in_executor(None, self._close)

    def _close(self) -> None:
        self._calls.executor.shutdown(wait=True)
        self.app.close()

    async def __aenter__(self) -> AsyncApp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncApp({self.app!r})"


class AsyncRecurringJobs:
    """`jobs.recurring` of an AsyncApp: the recurring-job calls of `app.recurring`, awaited."""

    def __init__(self, recurring: RecurringJobs, calls: _Calls) -> None:
        self._recurring = recurring
        self._calls = calls

    async def add_or_update(
        self,
        recurring_id: str,
        cron: str,
        func: Callable[..., Any],
        /,
        *args: Any,
        tz: str = "UTC",
        **kwargs: Any,
    ) -> datetime | None:
        add = functools.partial(self._recurring.add_or_update, tz=tz)
        return await self._calls.run(add, recurring_id, cron, func, *args, **kwargs)

    async def trigger(self, recurring_id: str) -> str:
        return await self._calls.run(self._recurring.trigger, recurring_id)

    async def pause(self, recurring_id: str) -> bool:
        return await self._calls.run(self._recurring.pause, recurring_id)

    async def resume(self, recurring_id: str) -> bool:
        return await self._calls.run(self._recurring.resume, recurring_id)

    async def remove(self, recurring_id: str) -> bool:
        return await self._calls.run(self._recurring.remove, recurring_id)

    async def get(self, recurring_id: str) -> RecurringRecord | None:
        return await self._calls.run(self._recurring.get, recurring_id)

    async def list(self) -> list[RecurringRecord]:
        return await self._calls.run(self._recurring.list)


def _set_soon(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set `event` from the storage's listening thread, on its own loop."""
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
        loop.call_soon_threadsafe(event.set)
