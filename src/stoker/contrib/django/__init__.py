"""stoker for Django: add "stoker.contrib.django" to INSTALLED_APPS (see docs/integrations.md)."""
