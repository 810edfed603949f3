"""``tiffin projections``: how far each read model is behind, and its parked events."""

from __future__ import annotations

import argparse
import time
from typing import Any

from application.bootstrap import bootstrap
from application.settings import load_settings
from application.workers import projector
from projections.registry import PROJECTIONS


def show_status(_: argparse.Namespace) -> int:
    with bootstrap(load_settings()) as tiffin:
        print(
            f"{'projection':<16} {'log':<11} {'position':>9} {'head':>9} "
            f"{'lag events':>10} {'lag s':>8} {'parked':>6}"
        )
        now = time.time()
        for name in PROJECTIONS:
            running = projector(tiffin, tiffin.views(), name)
            parked = running.parked()
            for lag in running.lag(now):
                stuck = sum(p.leader == lag.leader for p in parked)
                print(
                    f"{name:<16} {lag.leader:<11} {lag.position:>9} {lag.head:>9} "
                    f"{lag.events:>10} {lag.seconds:>8.1f} {stuck:>6}"
                )
            for item in parked:
                print(f"  parked: {item.leader} {item.position} {item.topic}: {item.error}")
    return 0


def add_commands(commands: Any) -> None:
    projections = commands.add_parser("projections", help="read models: lag and parked events")
    actions = projections.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="per projection and log: position, head, lag")
    status.set_defaults(run=show_status)
