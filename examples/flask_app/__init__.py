"""A Flask (WSGI) service that enqueues stoker jobs and serves the dashboard (see README.md)."""
