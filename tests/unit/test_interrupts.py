"""Timeout interrupts reach the job's own code only: shields, the call's start and end."""

from __future__ import annotations

import threading
import time

import pytest

from stoker.core.context import JobContext
from stoker.core.errors import JobTimeoutError
from stoker.core.interrupts import bind_guard, shielded, unbind_guard
from stoker.server import runner
from stoker.server.runner import RunningJob
from stoker.storage.sqlite import SQLiteStorage
from stoker.testing.clock import FakeClock


@pytest.fixture
def running() -> RunningJob:
    storage = SQLiteStorage(":memory:")
    context = JobContext("1", "m:f", "default", {}, storage=storage, clock=FakeClock())
    return RunningJob(context, state_id=1, thread_id=threading.get_ident(), timeout=0.0)


def from_supervisor(running: RunningJob) -> bool:
    """enforce_deadline as the supervisor thread calls it; its answer."""
    answers: list[bool] = []
    thread = threading.Thread(target=lambda: answers.append(running.enforce_deadline(1e12)))
    thread.start()
    thread.join()
    return answers[0]


def test_no_interrupt_is_sent_before_the_call_starts(running: RunningJob) -> None:
    assert running.deadline is None
    assert not from_supervisor(running)
    assert not running.timed_out


def test_an_interrupt_due_under_a_shield_is_raised_when_the_shield_lowers(
    running: RunningJob,
) -> None:
    running.start()
    token = bind_guard(running)
    try:
        shield = shielded()
        shield.__enter__()
        assert from_supervisor(running)  # timed out, but held back ...
        for _ in range(1000):  # ... so nothing strikes in stoker's own work
            time.sleep(0)
        assert running.held
        with pytest.raises(JobTimeoutError, match="timeout"):
            shield.__exit__(None, None, None)
        assert not running.held
    finally:
        unbind_guard(token)
    runner.settle(running)


def test_no_interrupt_is_sent_once_the_call_is_over(running: RunningJob) -> None:
    running.start()
    runner.settle(running)
    assert running.timed_out  # it returned past its (zero) deadline
    assert not from_supervisor(running)
    for _ in range(1000):
        time.sleep(0)


def test_taking_back_a_pending_interrupt_leaves_nothing_behind() -> None:
    runner._take_pending()
    for _ in range(1000):  # a stray _Flush would be raised at one of these calls
        time.sleep(0)


def test_shielded_does_nothing_outside_a_job() -> None:
    with shielded():
        pass
