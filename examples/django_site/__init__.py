"""A Django site that enqueues stoker jobs and serves the dashboard to its staff (README.md)."""
