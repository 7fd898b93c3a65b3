"""The service's background job: a plain `def`, run by a stoker server's worker thread."""

from __future__ import annotations

import stoker


@stoker.job(queue="emails", retries=3)
def send_digest(address: str) -> str:
    """Stands in for sending an e-mail; the result says what was sent."""
    if "@" not in address:
        raise ValueError(f"not an e-mail address: {address!r}")
    return f"digest sent to {address}"
