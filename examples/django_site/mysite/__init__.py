"""The example Django project: settings, URLs, views, jobs and the ASGI application."""
