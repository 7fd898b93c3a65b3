"""The web dashboard: follow and steer jobs in a browser (a mountable Starlette ASGI app)."""

from __future__ import annotations

from stoker.dashboard.app import DashboardOptions, create_app, serve
from stoker.dashboard.config import DashboardConfig

__all__ = ["DashboardConfig", "DashboardOptions", "create_app", "serve"]
