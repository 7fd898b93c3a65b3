"""A stop that arrives while the server is still starting (a SIGTERM right after launch)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import stoker
from stoker.server import ServerOptions


def test_a_stop_during_start_waits_for_the_start_and_then_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = stoker.App(f"sqlite:///{tmp_path}/stoker.db")
    server = app.server(ServerOptions(workers=2, poll_interval=0.05))
    announcing, go_on = threading.Event(), threading.Event()
    announce = server.announce

    def slow_announce() -> None:  # start() is half done when the stop arrives
        announcing.set()
        go_on.wait(5)
        announce()

    monkeypatch.setattr(server, "announce", slow_announce)
    starter = threading.Thread(target=server.start)
    starter.start()
    assert announcing.wait(5)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 2})
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # it waits for start() rather than joining unstarted threads
    go_on.set()
    starter.join(5)
    stopper.join(5)
    assert not stopper.is_alive()
    assert server.stopped.is_set()
    assert app.storage.list_servers() == []
    app.close()
