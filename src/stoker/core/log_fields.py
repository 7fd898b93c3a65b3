"""The `extra` fields of stoker's log lines (job id, function, queue, server) for JSON logs."""

from __future__ import annotations

# Prefixed, so that they can never clash with a LogRecord attribute (`name`, `module`,
# `process`...) nor with the fields an application adds itself.
JOB_ID = "stoker_job_id"
FUNCTION = "stoker_function"
QUEUE = "stoker_queue"
SERVER = "stoker_server"
FIELDS = (JOB_ID, FUNCTION, QUEUE, SERVER)


def log_fields(
    server: str | None,
    job_id: str | None = None,
    function: str | None = None,
    queue: str | None = None,
) -> dict[str, str | None]:
    """The four fields, every one present (None when the line is about no job, or the logging
    part does not know it), so a JSON formatter always writes the same keys."""
    return {JOB_ID: job_id, FUNCTION: function, QUEUE: queue, SERVER: server}
