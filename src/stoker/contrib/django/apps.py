"""The Django app config of stoker.contrib.django: its label, checks and settings."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

from stoker.contrib.django.checks import check_auth_apps
from stoker.contrib.django.conf import stoker_settings


class StokerConfig(AppConfig):
    name = "stoker.contrib.django"
    label = "stoker"
    verbose_name = "stoker background jobs"

    def ready(self) -> None:
        stoker_settings()  # a malformed STOKER setting fails at start-up, not on first use
        checks.register(check_auth_apps)
