"""Settings of the example site; $DJANGO_SITE_DATA is where its two SQLite files live."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("DJANGO_SITE_DATA", BASE_DIR.parent))

# Set DJANGO_SECRET_KEY in production: it signs sessions, and stoker derives the key of the
# dashboard's forms from it.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
# The dashboard answers the same Host names as the site.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "stoker.contrib.django",
    "mysite",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"
USE_TZ = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

STOKER = {
    "storage": os.environ.get("STOKER_STORAGE") or f"sqlite:///{DATA_DIR / 'stoker.db'}",
    # Only the site's own jobs may be enqueued and run.
    "app": {"allowed_modules": ["mysite.tasks"]},
    "server": {"queues": ["reports"], "workers": 2},
    "dashboard": {"title": "mysite jobs"},
    # Anonymous visitors of /stoker/ are sent to log in; logged-in non-staff users get a 403.
    "login_url": LOGIN_URL,
}
