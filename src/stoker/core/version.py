"""stoker's version, in one place for the package metadata, the CLI and the dashboard."""

from __future__ import annotations

__version__ = "0.1.0"
