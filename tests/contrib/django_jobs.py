"""Jobs the Django integration's tests enqueue."""

from __future__ import annotations


def touch_database() -> bool:
    """Open Django's default connection (as any ORM query does); whether it is open."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection is not None
