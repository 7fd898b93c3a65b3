"""The service's background job: an `async def` job, run on a stoker server's event loop."""

from __future__ import annotations

import asyncio

import stoker


@stoker.job(queue="images", retries=3)
async def make_thumbnail(image: str, width: int) -> dict[str, str | int]:
    """Stands in for an HTTP call to an image service: it awaits, holding no worker thread."""
    if width < 16:
        raise ValueError(f"a thumbnail needs a width of 16 px or more, got {width}")
    await asyncio.sleep(0.05)
    return {"thumbnail": f"{image.rsplit('.', 1)[0]}-{width}.webp", "width": width}
