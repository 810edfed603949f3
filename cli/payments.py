"""``tiffin payments reconcile``: look waiting payments up at the gateway now."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from typing import Any
from uuid import UUID

from application.circuit_breaker import BreakerOpen
from application.errors import NotFound
from application.gateway import GatewayUnavailable
from application.reconciliation import QUEUE, Reconciled
from application.settings import load_settings
from cli.failures import EXIT_FAILED, one_line
from cli.output import print_table, progress_bar
from wiring.bootstrap import bootstrap
from wiring.workers import reconcile_queue, reconciler


def reconcile(args: argparse.Namespace) -> int:
    """Asks the gateway about every payment still waiting (or the ones named), at once, and
    applies its answers as their webhooks would have been."""
    settings = load_settings()
    with bootstrap(settings) as tiffin:
        if args.payment:
            waiting = list(args.payment)
        else:
            reconcile_queue(tiffin).intake()  # payments requested since the worker last looked
            items = tiffin.work_store().items(QUEUE)
            waiting = [UUID(item.payload["payment_id"]) for item in items]
        reconciliation = reconciler(tiffin)
        results: list[Reconciled] = []
        failed: list[tuple[UUID, str]] = []
        started = time.monotonic()
        with progress_bar("reconciling", "payments") as advance:
            for done, payment_id in enumerate(waiting, 1):
                try:
                    results.append(reconciliation.reconcile(payment_id))
                except (GatewayUnavailable, BreakerOpen, NotFound) as error:
                    failed.append((payment_id, one_line(error)))
                advance(done, len(waiting))
    rows = [
        (r.payment_id, r.was, r.gateway_said or "(not asked)", r.now, r.applied)
        for r in results
        if r.applied or args.verbose
    ]
    if rows:
        print_table(("payment", "was", "gateway says", "now", "applied"), rows, right=["applied"])
    ends = Counter(str(r.now) for r in results)
    summary = ", ".join(f"{count} {status}" for status, count in sorted(ends.items()))
    changed = sum(1 for r in results if r.applied)
    print(
        f"reconciled {len(results)} payment(s) in {time.monotonic() - started:.1f} s: "
        f"{changed} changed by the gateway's answer; now {summary or 'none waiting'}"
    )
    for payment_id, reason in failed:
        print(f"tiffin payments reconcile: {payment_id}: {reason}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def add_commands(commands: Any) -> None:
    payments = commands.add_parser("payments", help="payments at the gateway: reconcile")
    actions = payments.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "reconcile",
        help="look every waiting payment up at the gateway now, and apply what it says",
        description="Asks the UPI gateway about every payment still pending or refund_pending "
        "(or only the ones named) and applies its answer exactly as the webhook would have "
        "been: nothing is applied twice. The reconcile worker does the same by itself for "
        "payments waiting longer than TIFFIN_RECONCILE_AFTER_SECONDS.",
    )
    run.add_argument("--payment", nargs="+", type=UUID, metavar="ID", help="only these payments")
    run.add_argument(
        "--verbose", action="store_true", help="list every payment, not only the changed ones"
    )
    run.set_defaults(run=reconcile)
