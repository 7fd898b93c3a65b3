"""Combiner: concurrent requests run as batches, each caller gets its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from stoker.storage.common.combining import Combiner


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_caller_alone_runs_at_once_as_a_batch_of_one() -> None:
    calls: list[list[int]] = []
    combiner: Combiner[int, int] = Combiner(
        lambda batch: calls.append(list(batch)) or [n * 2 for n in batch]
    )
    assert combiner.submit(3) == 6
    assert combiner.submit(4) == 8
    assert calls == [[3], [4]]


def test_callers_arriving_during_a_batch_go_together_and_get_their_own_results() -> None:
    calls: list[list[int]] = []
    release = threading.Event()

    def run(batch: Any) -> list[int]:
        calls.append(list(batch))
        if len(calls) == 1:
            release.wait(5)
        return [n * 10 for n in batch]

    combiner: Combiner[int, int] = Combiner(run)
    results: dict[int, int] = {}
    threads = [
        threading.Thread(target=lambda n=n: results.update({n: combiner.submit(n)}))
        for n in range(5)
    ]
    threads[0].start()
    _wait_until(lambda: bool(calls))
    for thread in threads[1:]:
        thread.start()
    _wait_until(lambda: len(combiner._waiting) == 4)
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == {n: n * 10 for n in range(5)}
    assert [sorted(batch) for batch in calls] == [[0], [1, 2, 3, 4]]


def test_a_batch_waits_briefly_for_the_members_of_the_last_one() -> None:
    calls: list[list[int]] = []
    combiner: Combiner[int, int] = Combiner(
        lambda batch: calls.append(sorted(batch)) or list(batch), gather_seconds=2.0
    )
    combiner._last_size, combiner._last_end = 3, time.monotonic()  # a batch of 3 just ended
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(combiner.submit(n))) for n in range(3)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.05)  # they come back one after another, as after a batch
    for thread in threads:
        thread.join(5)
    assert calls == [[0, 1, 2]]  # one batch, not a lone first caller and then the rest


def test_a_caller_long_after_the_last_batch_does_not_wait() -> None:
    combiner: Combiner[int, int] = Combiner(lambda batch: list(batch), gather_seconds=30.0)
    combiner._last_size, combiner._last_end = 8, time.monotonic() - 60
    started = time.monotonic()
    assert combiner.submit(1) == 1
    assert time.monotonic() - started < 5


def test_a_failed_batch_fails_every_member_and_the_next_batch_runs() -> None:
    calls: list[int] = []
    release = threading.Event()

    def run(requests: Any) -> list[int]:
        calls.append(len(requests))
        if len(calls) == 1:
            release.wait(5)  # hold the first batch so that the others pile up behind it
            return [0]
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return list(requests)

    combiner: Combiner[int, int] = Combiner(run)
    outcomes: dict[int, object] = {}

    def call(n: int, submit: Callable[[int], int] = combiner.submit) -> None:
        try:
            outcomes[n] = submit(n)
        except RuntimeError as exc:
            outcomes[n] = str(exc)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    while not calls:
        time.sleep(0.001)
    others = [threading.Thread(target=call, args=(n,)) for n in (1, 2, 3)]
    for thread in others:
        thread.start()
    while len(combiner._waiting) < 3:
        time.sleep(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert outcomes == {0: 0, 1: "connection lost", 2: "connection lost", 3: "connection lost"}
    assert calls == [1, 3]
    assert combiner.submit(9) == 9  # the combiner is usable again


def test_a_request_that_failed_alone_raises_for_its_caller_only() -> None:
    def run(batch: Any) -> list[Any]:
        return [ValueError(f"bad {n}") if n < 0 else n for n in batch]

    combiner: Combiner[int, int] = Combiner(run)
    assert combiner.submit(5) == 5
    with pytest.raises(ValueError, match="bad -1"):
        combiner.submit(-1)
    assert combiner.submit(6) == 6


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_every_caller_gets_its_own_result_under_contention(in_flight: int) -> None:
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def run(batch: Any) -> list[int]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.0005)
        with lock:
            active[0] -= 1
        return [n * 2 for n in batch]

    combiner: Combiner[int, int] = Combiner(run, max_batch=5, max_in_flight=in_flight)
    wrong: list[tuple[int, int]] = []

    def caller(base: int) -> None:
        for n in range(base, base + 150):
            got = combiner.submit(n)
            if got != n * 2:
                wrong.append((n, got))

    threads = [threading.Thread(target=caller, args=(k * 1000,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not wrong
    assert 1 <= peak[0] <= in_flight
    assert combiner._in_flight == 0
    assert not combiner._waiting
