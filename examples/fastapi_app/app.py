"""The FastAPI application: enqueue from an endpoint, report or wait for the job, log in, and
the dashboard for admin users."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

import stoker
from examples.fastapi_app.tasks import make_thumbnail


class ThumbnailRequest(BaseModel):
    image: str = Field(min_length=1, max_length=200)
    width: int = Field(gt=0, le=4096)


class User(BaseModel):
    password: str = Field(min_length=8)
    admin: bool = False


def users_from_env() -> dict[str, User]:
    """$THUMBNAILS_USERS: {"name": {"password": "...", "admin": true|false}, ...}."""
    document = json.loads(os.environ.get("THUMBNAILS_USERS", "{}"))
    return {name: User.model_validate(user) for name, user in document.items()}


def create_app(
    storage: str | None = None,
    users: Mapping[str, User] | None = None,
    secret_key: str | None = None,
) -> FastAPI:
    """The service on `storage` (default: $STOKER_STORAGE or sqlite:///stoker.db); `users`
    (default: $THUMBNAILS_USERS) may log in, the admins among them see the dashboard.
    `secret_key` (default: $THUMBNAILS_SECRET_KEY, else random) signs the session cookie and
    the dashboard's forms: give every process of the service the same one."""
    jobs = stoker.AsyncApp(storage)
    known = dict(users if users is not None else users_from_env())
    key = secret_key or os.environ.get("THUMBNAILS_SECRET_KEY") or secrets.token_hex(32)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        yield
        await jobs.aclose()

    api = FastAPI(title="thumbnails", lifespan=lifespan)
    # A signed session cookie; the mounted dashboard sees it in the request's scope too.
    api.add_middleware(SessionMiddleware, secret_key=key, same_site="lax")

    def is_admin(request: Request) -> bool:
        """The dashboard's authorize hook: the session's user is an admin."""
        user = known.get(request.scope.get("session", {}).get("user", ""))
        return user is not None and user.admin

    @api.post("/login", status_code=303)
    async def login(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> RedirectResponse:
        user = known.get(username)
        expected = user.password if user else secrets.token_hex(16)  # no early exit on names
        if not hmac.compare_digest(password.encode(), expected.encode()) or user is None:
            raise HTTPException(401, "wrong user name or password")
        request.session.clear()
        request.session["user"] = username
        return RedirectResponse("/stoker/", 303)

    @api.post("/thumbnails", status_code=202)
    async def request_thumbnail(request: ThumbnailRequest) -> dict[str, str]:
        # Checked and stored without blocking the event loop; a server makes the thumbnail.
        job_id = await jobs.enqueue(make_thumbnail, request.image, request.width)
        return {"job_id": job_id, "status_url": f"/thumbnails/{job_id}"}

    @api.get("/thumbnails/{job_id}")
    async def thumbnail(job_id: str, wait: float = 0.0) -> dict[str, Any]:
        """The job's state and result; with `?wait=S`, wait up to S seconds for its end."""
        if not 0 <= wait <= 30:
            raise HTTPException(422, "wait is a number of seconds from 0 to 30")
        try:
            info = await jobs.wait(job_id, timeout=wait) if wait else await jobs.get_job(job_id)
        except stoker.JobWaitTimeoutError:
            info = await jobs.get_job(job_id)
        except stoker.JobNotFoundError:
            info = None
        if info is None:
            raise HTTPException(404, f"no job {job_id}")
        error = info.exception.message if info.exception else None
        return {"job_id": info.id, "state": info.state, "result": info.result, "error": error}

    # The dashboard, for the admins logged in (on the local host names; pass allowed_hosts=
    # for others). Its forms carry their own CSRF token, signed with the service's key.
    api.mount("/stoker", jobs.app.dashboard(authorize=is_admin, secret_key=key))
    return api
