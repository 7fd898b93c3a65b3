"""Integrations with other libraries and frameworks (OpenTelemetry, Django, Flask), each an
optional extra imported only when used; nothing else in stoker imports them."""
