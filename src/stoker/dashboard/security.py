"""The dashboard's gate and headers, who may change things, CSRF tokens, signed cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from collections.abc import Sequence
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stoker.dashboard.access import Refusal, refusal
from stoker.dashboard.config import DashboardConfig

CSRF_COOKIE = "stoker_csrf"
FLASH_COOKIE = "stoker_flash"
CSRF_FIELD = "csrf_token"

SECURITY_HEADERS: dict[str, str] = {
    # No inline script or style anywhere, so the policy can forbid both: an injected <script>
    # that escaping somehow missed would still not run.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def config_of(request: Request) -> DashboardConfig:
    config: DashboardConfig = request.app.state.config
    return config


def is_read_only(request: Request) -> bool:
    config = config_of(request)
    if callable(config.read_only):
        return bool(config.read_only(request))
    return config.read_only


class SecurityMiddleware:
    """Rejects unauthorized requests with 403 and adds security headers to every response."""

    def __init__(self, app: ASGIApp, config: DashboardConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        refused = refusal(Request(scope), self.config)
        if refused is not None:
            response = _refusal_response(scope, refused)
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _refusal_response(scope: Scope, refused: Refusal) -> Response:
    """JSON under /api/ (scripts read it), a small HTML page elsewhere."""
    root = str(scope.get("root_path", "")).rstrip("/")
    path = str(scope.get("path", ""))
    headers = dict(refused.headers or {})
    if path.startswith(f"{root}/api/"):
        return JSONResponse({"error": refused.message}, refused.status, headers)
    title = "401 Unauthorized" if refused.status == 401 else "403 Forbidden"
    body = (
        f"<!doctype html><title>{title}</title><h1>{title}</h1>"
        f"<p>{html.escape(refused.message)}</p>"
    )
    return HTMLResponse(body, refused.status, headers)


def same_text(sent: str, expected: str) -> bool:
    """Constant-time comparison of two strings of any characters. `hmac.compare_digest`
    raises TypeError on non-ASCII str, and a planted cookie or form field must never be
    able to turn a refusal into a server error."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode())


# --- signing ------------------------------------------------------------------------------------
def _mac(key: bytes, purpose: str, value: str) -> str:
    digest = hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, purpose: str, payload: Any) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"{body}.{_mac(key, purpose, body)}"


def unsign(key: bytes, purpose: str, token: str | None) -> Any:
    """The payload of a token made by `sign` with the same key and purpose, else None."""
    if not token or "." not in token or len(token) > 8192:
        return None
    body, _, mac = token.rpartition(".")
    if not same_text(mac, _mac(key, purpose, body)):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None


# --- CSRF: a random session id in a cookie, the form carries an HMAC of it --------------------
def cookie_path(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/") or "/"


def csrf_token(request: Request) -> str:
    """The token to put in forms; creates the session cookie's value on first use."""
    session = getattr(request.state, "csrf_session", None)
    if session is None:
        session = request.cookies.get(CSRF_COOKIE)
        if not session or len(session) != 43:
            session = secrets.token_urlsafe(32)
            request.state.new_csrf_session = session
        request.state.csrf_session = session
    return _mac(config_of(request).secret_key, "csrf", session)


def store_csrf_cookie(request: Request, response: Response) -> None:
    session = getattr(request.state, "new_csrf_session", None)
    if session is not None:
        response.set_cookie(
            CSRF_COOKIE,
            session,
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


async def checked_form(request: Request) -> FormData:
    """The POSTed form, after the read-only and CSRF checks (403 if either fails)."""
    if is_read_only(request):
        raise HTTPException(403, "The dashboard is read-only: nothing can be changed from it.")
    form = await request.form()
    session = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    expected = _mac(config_of(request).secret_key, "csrf", session) if session else None
    if not isinstance(sent, str) or expected is None or not same_text(sent, expected):
        raise HTTPException(
            403, "The form's security token is missing or stale. Reload the page and try again."
        )
    return form


# --- flash messages: one signed cookie read by the next page ----------------------------------
def set_flash(
    request: Request, response: Response, kind: str, text: str, job_ids: Sequence[str] = ()
) -> None:
    """Leave a message for the next page; `job_ids` (jobs the action created) become links."""
    payload = {"kind": kind, "text": text[:1000], "job_ids": [str(i)[:40] for i in job_ids[:10]]}
    token = sign(config_of(request).secret_key, "flash", payload)
    response.set_cookie(
        FLASH_COOKIE, token, path=cookie_path(request), httponly=True, samesite="strict"
    )


def read_flash(request: Request) -> dict[str, Any] | None:
    """The message a POST left for this page (signed, so nobody can plant text in it)."""
    payload = unsign(config_of(request).secret_key, "flash", request.cookies.get(FLASH_COOKIE))
    if not isinstance(payload, dict):
        return None
    job_ids = payload.get("job_ids")
    return {
        "kind": str(payload.get("kind", "info")),
        "text": str(payload.get("text", "")),
        "job_ids": [str(i) for i in job_ids] if isinstance(job_ids, list) else [],
    }


def clear_flash(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path=cookie_path(request))


def safe_back_url(request: Request, back: object, fallback: str) -> str:
    """A dashboard-local URL to return to after a POST; anything else (another host, a
    scheme-relative `//evil`, a path outside the mount) becomes `fallback`: no open redirect."""
    root = request.scope.get("root_path", "").rstrip("/")
    if (
        isinstance(back, str)
        and back.startswith(root + "/")
        and not back.startswith("//")
        and "\\" not in back
        and len(back) < 4000
        and all(ch.isprintable() for ch in back)
    ):
        return back
    return fallback
