"""Integrations with web frameworks (Django, Flask); nothing in stoker imports them."""
