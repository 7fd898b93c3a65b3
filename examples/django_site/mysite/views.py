"""The site's views: one enqueues a report job, another shows its state and result."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST
from mysite.tasks import count_users

from stoker.contrib.django.conf import get_app


@login_required
@require_POST
def request_report(request: HttpRequest) -> JsonResponse:
    """POST /reports/ (with Django's CSRF token, like any form): the job runs on a server."""
    job_id = get_app().enqueue(count_users)
    return JsonResponse({"job_id": job_id, "status_url": f"/reports/{job_id}/"}, status=202)


@login_required
@require_GET
def report(request: HttpRequest, job_id: str) -> JsonResponse:
    info = get_app().get_job(job_id)
    if info is None:
        return JsonResponse({"error": f"no job {job_id}"}, status=404)
    return JsonResponse({"job_id": info.id, "state": info.state, "result": info.result})
