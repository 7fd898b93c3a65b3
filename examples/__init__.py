"""Runnable examples of stoker (each sub-package is one application; see its README)."""
