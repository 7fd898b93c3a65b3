"""The JSON API behind the live parts of the pages (and for other tools): same reads, as JSON."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stoker.dashboard import stats
from stoker.dashboard.config import MAX_SELECTION
from stoker.dashboard.params import ListQuery, state_from_slug
from stoker.dashboard.render import nav_counts
from stoker.dashboard.routes_pages import MAX_JOB_ID_LENGTH
from stoker.dashboard.security import config_of
from stoker.dashboard.system import recurring_rows, server_rows
from stoker.dashboard.views import details_view, job_json, list_page, state_json


def _json(payload: Any) -> Response:
    return JSONResponse(payload, headers={"cache-control": "no-store"})


def api_stats(request: Request) -> Response:
    """Counts per state, live nav numbers and the all-time totals the realtime chart diffs."""
    config = config_of(request)
    return _json(
        {
            "now": config.clock.now().isoformat(),
            **nav_counts(request),
            "totals": stats.totals(config.monitor),
        }
    )


def api_history(request: Request) -> Response:
    config = config_of(request)
    series = stats.history(config.monitor, config.clock.now())
    return _json(stats.history_json(series))


def api_jobs(request: Request) -> Response:
    state = state_from_slug(request.path_params["state"])
    query = ListQuery.parse(state, request.query_params)
    config = config_of(request)
    page = list_page(config.monitor, query)
    now = config.clock.now()
    return _json(
        {
            "state": state,
            "total": page.total,
            "page": page.query.page,
            "pages": page.pages,
            "size": page.query.size,
            "jobs": [job_json(row.record, now) for row in page.rows],
        }
    )


def api_job(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    config = config_of(request)
    valid = 0 < len(job_id) <= MAX_JOB_ID_LENGTH and job_id.isprintable()
    view = details_view(config.monitor, job_id) if valid else None
    if view is None:
        raise HTTPException(404, "There is no job with this id.")
    return _json(
        {
            **job_json(view.record, config.clock.now()),
            "history": [state_json(entry.state) for entry in reversed(view.timeline)],
            "logs": [
                {"created_at": line.created_at.isoformat(), "message": line.message}
                for line in view.logs
            ],
            "continuations": [{"id": child, "state": state} for child, state in view.continuations],
        }
    )


def api_servers(request: Request) -> Response:
    config = config_of(request)
    rows = server_rows(config.monitor, config.clock.now(), config.server_timeout)
    return _json(
        [
            {
                "id": row.record.id,
                "hostname": row.record.hostname,
                "pid": row.record.pid,
                "workers": row.record.workers,
                "queues": list(row.record.queues),
                "started_at": row.record.started_at.isoformat(),
                "heartbeat_at": row.record.heartbeat_at.isoformat(),
                "in_flight": row.in_flight,
                "dead": row.dead,
            }
            for row in rows
        ]
    )


def api_recurring(request: Request) -> Response:
    rows = recurring_rows(config_of(request).monitor)
    return _json(
        [
            {
                "id": row.record.id,
                "cron": row.record.cron,
                "description": row.words,
                "timezone": row.record.timezone,
                "function": row.record.function,
                "queue": row.record.queue,
                "next_run": row.record.next_run.isoformat() if row.record.next_run else None,
                "last_run": row.record.last_run.isoformat() if row.record.last_run else None,
                "last_job_id": row.record.last_job_id,
                "last_job_state": row.last_job_state,
                "paused": row.record.paused,
                "error": row.record.error,
            }
            for row in rows
        ]
    )


def api_job_states(request: Request) -> Response:
    """{id: state name} of the given jobs (`?ids=1&ids=2`, one page's worth at most); jobs
    that no longer exist are left out. The Processing list asks which of its rows finished."""
    ids = request.query_params.getlist("ids")
    if len(ids) > MAX_SELECTION or not all(0 < len(i) <= MAX_JOB_ID_LENGTH for i in ids):
        raise HTTPException(400, f"Give 1 to {MAX_SELECTION} job ids as ids=…")
    states = config_of(request).monitor.job_states(ids) if ids else {}
    return _json({job_id: state for job_id, (state, _state_id) in states.items()})


ROUTES = [
    Route("/api/stats", api_stats),
    Route("/api/job-states", api_job_states),
    Route("/api/history", api_history),
    Route("/api/jobs/{state}", api_jobs),
    Route("/api/job/{job_id:path}", api_job),
    Route("/api/servers", api_servers),
    Route("/api/recurring", api_recurring),
]
