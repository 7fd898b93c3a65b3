"""The Flask application: log in, enqueue from an endpoint, see the job; the dashboard for admins.

    FLASK_APP_USERS='{"ada": {"password": "…", "admin": true}}' FLASK_SECRET_KEY=… \
        waitress-serve --call examples.flask_app.app:create_app
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, jsonify, redirect, request, session
from werkzeug.wrappers import Response

import stoker
from examples.flask_app.tasks import send_digest
from stoker.contrib.flask import mount_dashboard


def users_from_env() -> dict[str, dict[str, Any]]:
    """$FLASK_APP_USERS: {"name": {"password": "...", "admin": true|false}, ...}."""
    users = json.loads(os.environ.get("FLASK_APP_USERS", "{}"))
    if not isinstance(users, dict) or not all(
        isinstance(user, dict) and isinstance(user.get("password"), str) for user in users.values()
    ):
        raise ValueError('FLASK_APP_USERS must be {"name": {"password": "...", "admin": bool}}')
    return users


def create_app(
    storage: str | None = None, users: Mapping[str, Mapping[str, Any]] | None = None
) -> Flask:
    """The service on `storage` (default: $STOKER_STORAGE or sqlite:///stoker.db)."""
    jobs = stoker.App(storage)
    known = dict(users if users is not None else users_from_env())
    web = Flask(__name__)
    # One key for every process of the service: it signs the session cookie, and the
    # dashboard's form tokens are derived from it. Random (sessions lost on restart) if unset.
    web.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    web.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

    def is_admin() -> bool:
        return bool(known.get(session.get("user", ""), {}).get("admin"))

    @web.post("/login")
    def login() -> Response:
        name, password = request.form.get("username", ""), request.form.get("password", "")
        expected = known.get(name, {}).get("password", "")
        if not name or not hmac.compare_digest(password.encode(), expected.encode()):
            abort(401)
        session.clear()
        session["user"] = name
        return redirect("/", 303)

    @web.post("/digests")
    def request_digest() -> tuple[Response, int]:
        # JSON only: a page of another site cannot post JSON here without CORS' consent,
        # which is what keeps this session-cookie endpoint safe from CSRF.
        if "user" not in session:
            abort(401)
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict) or not isinstance(body.get("address"), str):
            abort(415 if not request.is_json else 422)
        job_id = jobs.enqueue(send_digest, body["address"])
        return jsonify(job_id=job_id, status_url=f"/digests/{job_id}"), 202

    @web.get("/digests/<job_id>")
    def digest(job_id: str) -> Response:
        info = jobs.get_job(job_id)
        if info is None:
            abort(404)
        return jsonify(job_id=info.id, state=info.state, result=info.result)

    # The dashboard at /stoker/, for admins only; the others get its 403 page.
    mount_dashboard(web, jobs, allow=is_admin, prefix="/stoker", title="digests")
    return web
