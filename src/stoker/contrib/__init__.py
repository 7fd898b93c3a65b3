"""Integrations with other libraries, each an optional extra imported only when used."""
