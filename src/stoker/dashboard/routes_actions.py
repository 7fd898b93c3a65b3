"""POST endpoints: job actions (one, a selection, all matching) and recurring-job actions.

Every POST passes the read-only and CSRF checks first, changes things through the App client
with the state the page showed, then redirects (303) back with a flash message saying what
happened, so a reload never repeats an action.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stoker.core.states import STATE_NAMES
from stoker.dashboard.actions import (
    RECURRING_ACTIONS,
    BulkFilter,
    act_on_ids,
    act_on_matching,
    act_on_recurring,
    allowed,
    outcome_message,
)
from stoker.dashboard.config import MAX_SELECTION
from stoker.dashboard.params import MAX_QUEUE_LENGTH, clean_text
from stoker.dashboard.render import render, root_of, state_url
from stoker.dashboard.security import checked_form, config_of, safe_back_url, set_flash
from stoker.dashboard.views import STATE_ACTIONS


def _text(form: FormData, name: str, limit: int = 400) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        return None
    return value


def _state(form: FormData, name: str) -> str:
    state = _text(form, name)
    if state not in STATE_NAMES:
        raise HTTPException(400, f"{name} must be one of {', '.join(STATE_NAMES)}.")
    return state


def _action(form: FormData, state: str) -> str:
    action = _text(form, "action")
    if action is None or not allowed(action, state):
        names = ", ".join(name for name, _ in STATE_ACTIONS[state])
        raise HTTPException(400, f"Jobs in {state} can be: {names}.")
    return action


def _selection(form: FormData, single: tuple[str, ...]) -> tuple[str | None, list[str]]:
    """(action, ids): a per-row button (`<action>_one` = id) wins over the checkbox selection."""
    for action in single:
        one = _text(form, f"{action}_one")
        if one is not None:
            return action, [one]
    ids = [value for value in form.getlist("ids") if isinstance(value, str) and value]
    if len(ids) > MAX_SELECTION:
        raise HTTPException(400, f"At most {MAX_SELECTION} jobs can be selected at once.")
    return None, ids


def _redirect(
    request: Request,
    form: FormData,
    fallback: str,
    kind: str,
    text: str,
    job_ids: Sequence[str] = (),
) -> Response:
    response = RedirectResponse(safe_back_url(request, form.get("back"), fallback), 303)
    set_flash(request, response, kind, text, job_ids)
    return response


async def job_action(request: Request) -> Response:
    form = await checked_form(request)
    state = _state(form, "expected_state")
    single, ids = _selection(form, ("requeue", "delete"))
    action = single or _action(form, state)
    if single is not None and not allowed(single, state):
        raise HTTPException(400, f"Jobs in {state} cannot be {single}d.")
    fallback = state_url(root_of(request), state)
    if not ids:
        return _redirect(request, form, fallback, "warning", "No jobs were selected.")
    client = config_of(request).client
    outcome = await run_in_threadpool(act_on_ids, client, action, ids, state)
    kind = "success" if outcome.changed and not outcome.moved_on else "warning"
    return _redirect(request, form, fallback, kind, outcome_message(action, outcome))


def _bulk_filter(form: FormData) -> BulkFilter:
    queue = _text(form, "queue", MAX_QUEUE_LENGTH)
    return BulkFilter(state=_state(form, "state"), queue=queue, search=clean_text(_text(form, "q")))


async def bulk_action(request: Request) -> Response:
    """First POST: a confirmation page with the count. Second POST (confirm=yes): do it."""
    form = await checked_form(request)
    matching = _bulk_filter(form)
    action = _action(form, matching.state)
    config = config_of(request)
    back = safe_back_url(request, form.get("back"), state_url(root_of(request), matching.state))
    if form.get("confirm") != "yes":
        count = await run_in_threadpool(matching.count, config.monitor)
        label = dict(STATE_ACTIONS[matching.state])[action]
        return render(
            request,
            "confirm.html",
            page="jobs",
            state=matching.state,
            matching=matching,
            action=action,
            label=label,
            count=count,
            back_url=back,
        )
    at_most_text = _text(form, "at_most", 20) or ""
    if not at_most_text.isdigit():
        raise HTTPException(400, "at_most must be the number of jobs you confirmed.")
    outcome = await run_in_threadpool(
        act_on_matching,
        config.client,
        config.monitor,
        action,
        matching,
        int(at_most_text),
        config.bulk_batch_size,
        config.bulk_time_budget.total_seconds(),
    )
    kind = "success" if not outcome.moved_on and not outcome.remaining else "warning"
    response = RedirectResponse(back, 303)
    set_flash(request, response, kind, outcome_message(action, outcome))
    return response


async def recurring_action(request: Request) -> Response:
    form = await checked_form(request)
    single, ids = _selection(form, RECURRING_ACTIONS)
    action = single or _text(form, "action")
    if action not in RECURRING_ACTIONS:
        raise HTTPException(400, f"Recurring jobs can be: {', '.join(RECURRING_ACTIONS)}.")
    fallback = f"{root_of(request)}/recurring"
    if not ids:
        return _redirect(request, form, fallback, "warning", "No recurring jobs were selected.")
    client = config_of(request).client
    text, created = await run_in_threadpool(act_on_recurring, client, action, ids)
    kind = "warning" if "no longer existed" in text else "success"
    return _redirect(request, form, fallback, kind, text, job_ids=created)


ROUTES = [
    Route("/jobs/action", job_action, methods=["POST"]),
    Route("/jobs/bulk", bulk_action, methods=["POST"]),
    Route("/recurring/action", recurring_action, methods=["POST"]),
]
