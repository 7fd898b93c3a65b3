"""The HTML pages: overview, jobs by state, job details, retries, recurring jobs, servers."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stoker.core.states import STATE_NAMES
from stoker.dashboard import stats
from stoker.dashboard.lookup import find_job, matching_recurring
from stoker.dashboard.params import ListQuery, clean_text, state_from_slug
from stoker.dashboard.render import job_url, nav_counts, render, root_of
from stoker.dashboard.security import config_of
from stoker.dashboard.system import queue_rows, recurring_rows, scan_retries, server_rows
from stoker.dashboard.views import STATE_ACTIONS, details_view, list_page

MAX_JOB_ID_LENGTH = 200


def overview(request: Request) -> Response:
    config = config_of(request)
    storage = config.monitor
    now = config.clock.now()
    series = stats.history(storage, now)
    return render(
        request,
        "overview.html",
        page="overview",
        totals=stats.totals(storage),
        hourly=stats.chart(series["hourly"]),
        daily=stats.chart(series["daily"]),
        queues=queue_rows(storage, now, config.server_timeout),
    )


def jobs_index(request: Request) -> Response:
    return RedirectResponse(f"{root_of(request)}/jobs/enqueued", status_code=307)


def job_list(request: Request) -> Response:
    state = state_from_slug(request.path_params["state"])
    query = ListQuery.parse(state, request.query_params)
    config = config_of(request)
    storage = config.monitor
    page = list_page(storage, query)
    now = config.clock.now()
    queues = queue_rows(storage, now, config.server_timeout) if state == "Enqueued" else []
    return render(
        request,
        "jobs.html",
        page="jobs",
        state=state,
        listing=page,
        query=page.query,
        queues=queues,
        actions=STATE_ACTIONS[state],
    )


def job_details(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    valid = 0 < len(job_id) <= MAX_JOB_ID_LENGTH and job_id.isprintable()
    view = details_view(config_of(request).monitor, job_id) if valid else None
    if view is None:
        raise HTTPException(
            404,
            f"There is no job with id {job_id[:MAX_JOB_ID_LENGTH]!r}. Succeeded and deleted jobs "
            "are removed when they expire.",
        )
    return render(request, "job.html", page="jobs", state=view.record.state.name, job=view)


def retries(request: Request) -> Response:
    config = config_of(request)
    query = ListQuery.parse("Scheduled", request.query_params)
    scan = scan_retries(config.monitor, query.offset, query.size, config.retries_scan_limit)
    clamped = query.clamped(scan.matched)
    if clamped.page != query.page:  # past the last page: show the last one
        query = clamped
        scan = scan_retries(config.monitor, query.offset, query.size, config.retries_scan_limit)
    return render(request, "retries.html", page="retries", scan=scan, query=query)


def recurring(request: Request) -> Response:
    storage = config_of(request).monitor
    search = clean_text(request.query_params.get("q"))
    rows = recurring_rows(storage)
    shown = matching_recurring(rows, search)
    return render(
        request, "recurring.html", page="recurring", rows=shown, total=len(rows), search=search
    )


def lookup(request: Request) -> Response:
    """The top bar's lookup: straight to the job whose id it is, else matches in every state."""
    text = clean_text(request.query_params.get("q"))
    if text is None:
        return render(request, "search.html", page="search", lookup=None)
    found = find_job(config_of(request).monitor, text)
    if found.job_id is not None:
        return RedirectResponse(job_url(root_of(request), found.job_id), status_code=303)
    return render(request, "search.html", page="search", lookup=found)


def servers(request: Request) -> Response:
    config = config_of(request)
    rows = server_rows(config.monitor, config.clock.now(), config.server_timeout)
    return render(request, "servers.html", page="servers", rows=rows)


def error_page(request: Request, detail: str, status_code: int) -> Response:
    """A 4xx page in the dashboard's frame, saying what was wrong."""
    try:
        nav = nav_counts(request)
    except Exception:  # the storage may be what failed; the error page must still render
        nav = {
            "states": dict.fromkeys(STATE_NAMES, 0),
            "retries": 0,
            "retries_complete": True,
            "recurring": 0,
            "batches": 0,
            "servers": 0,
            "servers_dead": 0,
        }
    return render(
        request,
        "error.html",
        status_code=status_code,
        page="error",
        detail=detail,
        status=status_code,
        nav=nav,
    )


ROUTES = [
    Route("/", overview, name="overview"),
    Route("/jobs", jobs_index),
    Route("/jobs/{state}", job_list, name="jobs"),
    Route("/job/{job_id:path}", job_details, name="job"),
    Route("/retries", retries, name="retries"),
    Route("/recurring", recurring, name="recurring"),
    Route("/search", lookup, name="search"),
    Route("/servers", servers, name="servers"),
]

__all__ = ["MAX_JOB_ID_LENGTH", "ROUTES", "error_page"]
