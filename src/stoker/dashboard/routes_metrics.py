"""`GET /metrics`: the App's Prometheus metrics, behind the dashboard's own authorization."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stoker.dashboard.security import config_of

# prometheus_client's CONTENT_TYPE_LATEST, written out: the module is not imported until used.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics(request: Request) -> Response:
    """The job events this process counted and the storage's gauges (docs/metrics.md); the
    first scrape instruments the App if it was not already."""
    try:
        from stoker.metrics import instrument
    except ModuleNotFoundError as missing:
        if missing.name != "prometheus_client":
            raise
        raise HTTPException(
            404, "metrics need prometheus_client: pip install 'stoker[metrics]'"
        ) from None
    exposition = instrument(config_of(request).client).exposition()
    return Response(exposition, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})


ROUTES = [Route("/metrics", metrics, methods=["GET"])]
