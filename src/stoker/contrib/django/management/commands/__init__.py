"""`manage.py stoker_server`."""
