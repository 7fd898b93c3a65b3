"""The site's background job: it reads Django's database through the ORM."""

from __future__ import annotations

from django.contrib.auth import get_user_model

import stoker


@stoker.job(queue="reports", retries=3)
def count_users() -> dict[str, int]:
    """Runs on `manage.py stoker_server`, where Django is set up: the ORM works as in a view."""
    users = get_user_model().objects
    return {"users": users.count(), "staff": users.filter(is_staff=True).count()}
