"""Who may reach the dashboard: Host names, loopback, hooks, basic auth, same-origin POSTs."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

from stoker.dashboard.config import DashboardConfig

# The names a browser uses for this machine. A DNS-rebinding page reaches 127.0.0.1 under its
# own name (rebind.attacker.example), so in the local-only mode that name must be refused: the
# client address alone says nothing about which site's page sent the request.
LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the status, what to tell the user, extra response headers."""

    status: int
    message: str
    headers: Mapping[str, str] | None = None


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (also IPv4-mapped); False for names and anything else."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def host_name(header: str | None) -> str | None:
    """The host of a Host header without its port, lower-cased ('[::1]:80' -> '[::1]');
    None when the header is missing or malformed."""
    if not header or len(header) > 300 or not header.isascii():
        return None
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        port = value[end + 1 :] if end > 1 else None
        if port is None or (port and not (port[0] == ":" and port[1:].isdigit())):
            return None
        return value[: end + 1]
    name, _, port = value.partition(":")
    if ":" in port or (port and not port.isdigit()) or not name:
        return None
    return name


def host_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """`name` is one of `patterns`: exact names, '*.example.com' for sub-domains, '*' for any."""
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or pattern == name:
            return True
        if pattern.startswith("*.") and name.endswith(pattern[1:]):
            return True
    return False


def allowed_hosts(config: DashboardConfig) -> tuple[str, ...]:
    """The Host names accepted: the configured ones; else any with basic auth, else the
    local names.

    Basic auth needs no Host check: a browser never sends the credentials it stored for the
    dashboard to a rebound name, which is another origin to it. An `authorize` hook cannot
    tell a rebound page from the dashboard's own (the page is same-origin to the browser and
    may send any header a proxy would), so with a hook the names must be given."""
    if config.allowed_hosts is not None:
        return config.allowed_hosts
    return ("*",) if config.basic_auth is not None else LOCAL_HOSTS


def basic_auth_matches(header: str | None, credentials: tuple[str, str]) -> bool:
    """The Authorization header carries exactly these Basic credentials (compared in constant
    time, as bytes: a non-ASCII header must not raise)."""
    if not header or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, _, password = decoded.partition(b":")
    expected_user, expected_password = (part.encode() for part in credentials)
    # Both compared, always: no early exit that would tell which part was wrong.
    user_ok = hmac.compare_digest(user, expected_user)
    password_ok = hmac.compare_digest(password, expected_password)
    return user_ok and password_ok


def is_same_origin_post(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this dashboard.

    Browsers send Sec-Fetch-Site (trusted first: a proxy that rewrites Host leaves it alone),
    older ones at least Origin. A request with neither is not from a browser (curl, scripts):
    the CSRF token still guards it, and such a client has no victim's cookie to abuse."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if not origin.isascii():
        return False
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and netloc == request.headers.get("host", "").lower()


def refusal(request: Request, config: DashboardConfig) -> Refusal | None:
    """Why this request may not be answered, or None when it may."""
    name = host_name(request.headers.get("host"))
    if name is None or not host_matches(name, allowed_hosts(config)):
        return Refusal(
            403,
            "This Host name is not one the dashboard answers to (a defence against DNS "
            "rebinding). Open it as http://localhost or http://127.0.0.1, or pass "
            "allowed_hosts.",
        )
    if config.basic_auth is not None and not basic_auth_matches(
        request.headers.get("authorization"), config.basic_auth
    ):
        return Refusal(
            401,
            "The dashboard needs a user name and password.",
            {"www-authenticate": 'Basic realm="stoker", charset="UTF-8"'},
        )
    if not _passes_hook_or_loopback(request, config):
        return Refusal(
            403,
            "The stoker dashboard only answers local requests unless the application passes "
            "an authorize hook or basic-auth credentials.",
        )
    if request.method not in SAFE_METHODS and not is_same_origin_post(request):
        return Refusal(403, "Changes are accepted only from the dashboard's own pages.")
    return None


def _passes_hook_or_loopback(request: Request, config: DashboardConfig) -> bool:
    """The `authorize` hook decides alone when given; basic auth alone lets the (already
    checked) user in. Without either, only loopback clients pass.

    A hook or credentials replace the loopback rule instead of widening it: behind a reverse
    proxy on the same host every request comes from 127.0.0.1, and "local or authorized"
    would let everyone in."""
    if config.authorize is not None:
        return bool(config.authorize(request))
    if config.basic_auth is not None:
        return True
    return is_loopback(request.client.host if request.client else None)
