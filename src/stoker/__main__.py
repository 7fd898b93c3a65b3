"""`python -m stoker` runs the command line."""

from __future__ import annotations

import sys

from stoker.cli import main

sys.exit(main())
