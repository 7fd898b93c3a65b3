"""An --app module whose recurring job has a bad cron expression: importing it must fail cleanly."""

from __future__ import annotations

import os

import stoker
from tests.cli import cli_jobs

app = stoker.App(os.environ["STOKER_STORAGE"])
app.recurring.add_or_update("nightly", "0 3 * * * * *", cli_jobs.add, 1)
