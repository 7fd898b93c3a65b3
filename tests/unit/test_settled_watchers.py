"""SettledWatchers: the registry behind `wait`'s notices on PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable

from stoker.storage.common.watchers import SettledWatchers


def test_a_notice_wakes_the_watchers_of_that_job_only() -> None:
    watchers, woken = SettledWatchers(), []
    watchers.add("1", lambda: woken.append("a"))
    watchers.add("1", lambda: woken.append("b"))
    watchers.add("2", lambda: woken.append("c"))
    watchers.wake("1")
    watchers.wake("3")
    assert woken == ["a", "b"]
    watchers.wake_all()
    assert sorted(woken[2:]) == ["a", "b", "c"]


def test_a_stopped_watch_is_woken_no_more_and_others_stay() -> None:
    watchers, woken = SettledWatchers(), []
    stop = watchers.add("1", lambda: woken.append("a"))
    watchers.add("1", lambda: woken.append("b"))
    stop()
    stop()  # twice is harmless
    watchers.wake("1")
    assert woken == ["b"]


def test_a_wake_may_stop_its_own_watch() -> None:
    watchers, woken = SettledWatchers(), []
    stops: list[Callable[[], None]] = []

    def wake_once() -> None:
        woken.append("once")
        stops[0]()  # would deadlock if wakes ran under the registry's lock

    stops.append(watchers.add("1", wake_once))
    watchers.wake("1")
    watchers.wake("1")
    assert woken == ["once"]
