"""Scenario tests: real servers on every storage."""
