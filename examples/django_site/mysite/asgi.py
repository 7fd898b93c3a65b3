"""The site's ASGI application with stoker's dashboard at /stoker/, for staff users:
`uvicorn mysite.asgi:application`."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from stoker.contrib.django.asgi import mount_dashboard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = mount_dashboard(get_asgi_application(), "/stoker")
