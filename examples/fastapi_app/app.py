"""The FastAPI application: enqueue from an endpoint, report or wait for the job, dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

import stoker
from examples.fastapi_app.tasks import make_thumbnail


class ThumbnailRequest(BaseModel):
    image: str = Field(min_length=1, max_length=200)
    width: int = Field(gt=0, le=4096)


def create_app(storage: str | None = None) -> FastAPI:
    """The service on `storage` (default: $STOKER_STORAGE or sqlite:///stoker.db)."""
    jobs = stoker.AsyncApp(storage)

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        yield
        await jobs.aclose()

    api = FastAPI(title="thumbnails", lifespan=lifespan)

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

    # The dashboard, local only (add `authorize=` to open it to your staff).
    api.mount("/stoker", jobs.app.dashboard())
    return api
