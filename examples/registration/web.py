"""The web pages (Starlette + Jinja2): register, activate, mailbox, backups; /stoker mounted."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from examples.registration.system import Registration
from examples.registration.users import RegistrationError

TEMPLATES = Path(__file__).parent / "templates"
DASHBOARD = "/stoker"
URL = re.compile(r"https?://[^\s<>\"']+")
UNAVAILABLE = "Sorry, we cannot schedule your activation e-mail right now. Please try again soon."
log = logging.getLogger("examples.registration.web")


def linkify(text: str) -> Markup:
    """Escaped text with its http(s) URLs made clickable (the mailbox shows plain-text mail)."""
    parts: list[str] = []
    last = 0
    for match in URL.finditer(text):
        parts.append(escape(text[last : match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(match.group(0)))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else "-"


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
    )
    env.filters.update(linkify=linkify, when=when, duration=duration)
    env.globals["dashboard"] = DASHBOARD
    return env


def check_same_origin(request: Request) -> None:
    """Refuse form posts sent by another site's page (browsers always send Origin on POST)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "This form was sent from another site; refused.")


class Pages:
    """Request handlers; blocking storage work runs in Starlette's thread pool."""

    def __init__(self, registration: Registration) -> None:
        self.registration = registration
        self.env = make_environment()

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def index_page(self, notice_user: int | None, status_code: int = 200, **form: Any) -> Response:
        system = self.registration
        users = [(user, system.activation_status(user)) for user in system.users.recent()]
        notice = system.users.get(notice_user) if notice_user is not None else None
        return self.render(
            "index.html",
            status_code=status_code,
            users=users,
            notice=notice,
            delay=system.settings.activation.delay_seconds,
            **form,
        )

    def index(self, request: Request) -> Response:
        registered = request.query_params.get("registered", "")
        valid = registered.isdigit() and len(registered) < 16  # SQLite integers are 64-bit
        return self.index_page(int(registered) if valid else None)

    async def register(self, request: Request) -> Response:
        check_same_origin(request)
        form = await request.form()
        name, email = str(form.get("name", "")), str(form.get("email", ""))
        try:
            user = await run_in_threadpool(self.registration.register, name, email)
        except RegistrationError as exc:
            return await run_in_threadpool(
                self.index_page, None, 400, error=str(exc), name=name, email=email
            )
        except Exception:  # the job storage is down: say so, keep what they typed
            log.exception("could not register %s", email)
            return await run_in_threadpool(
                self.index_page, None, 503, error=UNAVAILABLE, name=name, email=email
            )
        return RedirectResponse(f"/?registered={user.id}", status_code=303)

    def activate(self, request: Request) -> Response:
        user = self.registration.activate(str(request.path_params["token"]))
        if user is None:
            return self.render("activated.html", status_code=404, user=None)
        return self.render("activated.html", user=user)

    def mailbox(self, request: Request) -> Response:
        mailbox = self.registration.mailbox
        return self.render(
            "mailbox.html",
            mailbox=mailbox,
            mails=mailbox.mails() if mailbox is not None else [],
            smtp=self.registration.settings.smtp,
            delay=self.registration.settings.activation.delay_seconds,
        )

    def mailbox_state(self, request: Request) -> Response:
        mailbox = self.registration.mailbox
        if mailbox is None:
            return JSONResponse({"count": 0, "running": False})
        return JSONResponse({"count": mailbox.count, "running": mailbox.running})

    def mailbox_switch(self, request: Request) -> Response:
        """Start or stop the sink: play an SMTP outage and watch the retries."""
        check_same_origin(request)
        mailbox = self.registration.mailbox
        if mailbox is None:
            raise HTTPException(404, "The local SMTP sink is off (smtp.local_sink is false).")
        action = request.path_params["action"]
        if action not in ("start", "stop"):
            raise HTTPException(404, "Unknown mailbox action.")
        if action == "start":
            mailbox.start()
        else:
            mailbox.stop()
        return RedirectResponse("/mailbox", status_code=303)

    def backups(self, request: Request) -> Response:
        job = request.query_params.get("job", "")
        return self.render(
            "backups.html",
            backups=self.registration.backups(),
            recurring=self.registration.backup_job(),
            settings=self.registration.settings.backup,
            started_job=job[:100] or None,
        )

    def back_up_now(self, request: Request) -> Response:
        check_same_origin(request)
        job_id = self.registration.back_up_now()
        return RedirectResponse(f"/backups?job={job_id}", status_code=303)


def create_web_app(registration: Registration) -> Starlette:
    """The application's ASGI app, with the stoker dashboard mounted at /stoker."""
    pages = Pages(registration)
    return Starlette(
        routes=[
            Route("/", pages.index),
            Route("/register", pages.register, methods=["POST"]),
            Route("/activate/{token}", pages.activate),
            Route("/mailbox", pages.mailbox),
            Route("/mailbox/state", pages.mailbox_state),
            Route("/mailbox/{action:str}", pages.mailbox_switch, methods=["POST"]),
            Route("/backups", pages.backups),
            Route("/backups/run", pages.back_up_now, methods=["POST"]),
            Mount(DASHBOARD, app=registration.stoker.dashboard(title="stoker · registration")),
        ]
    )
