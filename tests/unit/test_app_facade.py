"""App as the facade over one Runtime: typed server options, shared defaults."""

from __future__ import annotations

import dataclasses
from typing import get_type_hints

import pytest

import stoker
from stoker.errors import JobDefinitionError
from stoker.server import ServerOptions, ServerSettings


def test_server_settings_name_every_server_option() -> None:
    fields = {field.name for field in dataclasses.fields(ServerOptions)}
    assert set(get_type_hints(ServerSettings)) == fields


def test_server_takes_options_and_keywords_over_them(tmp_path: object) -> None:
    with stoker.App(f"sqlite:///{tmp_path}/jobs.db") as app:
        server = app.server(ServerOptions(workers=2, queues=["mail"]), workers=3)
        assert (server.options.workers, server.options.queues) == (3, ("mail",))
        assert app.server(workers=1).options.workers == 1


def test_server_rejects_options_of_another_type(tmp_path: object) -> None:
    with stoker.App(f"sqlite:///{tmp_path}/jobs.db") as app:
        with pytest.raises(TypeError, match="ServerOptions"):
            app.server({"workers": 2})  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            app.server(bogus=1)  # type: ignore[call-arg]


def test_a_changed_default_queue_reaches_every_client_of_the_app(tmp_path: object) -> None:
    with stoker.App(f"sqlite:///{tmp_path}/jobs.db") as app:
        view = app.with_options(retries=0)
        app.default_queue = "mail"
        job_id = view.enqueue(print, "hello")
        info = app.get_job(job_id)
        assert info is not None
        assert info.queue == "mail"
        assert view.runtime is app.runtime
        with pytest.raises(JobDefinitionError, match="queue name"):
            app.default_queue = "bad queue name!"
