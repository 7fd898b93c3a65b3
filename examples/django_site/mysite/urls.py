"""The site's URLs; /stoker/ is not here: mysite/asgi.py mounts the dashboard beside Django."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from mysite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("reports/", views.request_report),
    path("reports/<str:job_id>/", views.report),
]
