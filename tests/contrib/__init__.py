"""Tests of the framework integrations (stoker.contrib)."""
