"""`python -m tests.reliability.serve`: a server with settings `stoker server` does not offer."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import timedelta

import stoker
from tests.reliability.support import SkewedClock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--storage", required=True)
    parser.add_argument("--options", default="{}", help="ServerOptions as a JSON object")
    parser.add_argument("--skew", type=float, default=0.0, help="seconds this clock is off")
    parser.add_argument("--retention-succeeded", type=float, default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    retention = (
        stoker.Retention(succeeded=timedelta(seconds=args.retention_succeeded))
        if args.retention_succeeded is not None
        else None
    )
    clock = SkewedClock(args.skew) if args.skew else None
    app = stoker.App(args.storage, clock=clock, retention=retention)
    try:
        app.run_server(**json.loads(args.options))
    finally:
        app.close()


if __name__ == "__main__":
    main()
