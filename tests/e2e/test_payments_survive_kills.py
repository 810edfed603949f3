"""No money stranded by a crash: the worker is SIGKILLed between the gateway call and its
webhook, again and again, and every payment still ends captured or refunded.

Server mode, the simulated gateway (its webhooks are owed rows in the work database, not
timers in the worker's memory), one `tiffin worker` at a time so that each kill catches
webhooks in flight. Customers cancel half the paid orders, so refunds are caught too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from api.causation import retrying_conflicts
from application.errors import NotFound
from domain.order import Order
from domain.payment import PaymentStatus
from domain.values import Role
from tests.e2e.workers import Workers, settings_of, worker_environ
from tests.polling import Seen, poll_until
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

ROUNDS, BATCH = 6, 8
OWED = "simulated_webhooks"
SETTLED = {PaymentStatus.CAPTURED, PaymentStatus.REFUNDED}


def statuses(tiffin: Tiffin, orders: list[Order]) -> Counter[PaymentStatus]:
    found: Counter[PaymentStatus] = Counter()
    for order in orders:
        try:
            found[tiffin.payments.payment_of_order(order.id).status] += 1
        except NotFound:
            found[PaymentStatus.PENDING] += 1  # not requested yet
    return found


def test_every_payment_ends_captured_or_refunded_though_the_worker_dies_mid_payment(
    postgres_url: str, tmp_path: Path
) -> None:
    environ = worker_environ(
        postgres_url,
        tmp_path / "var",
        TIFFIN_SIMULATED_CAPTURE_SECONDS="1.0",
        TIFFIN_WORKER_POLL_SECONDS="0.05",
        TIFFIN_WORK_LEASE_SECONDS="3",  # what a killed worker had claimed is due again soon
    )
    tiffin = bootstrap(settings_of(environ))  # the test's own process: the API's side
    workers = Workers(environ, tmp_path / "workers")
    owed_at_kills: list[int] = []

    def kill_with_webhooks_owed(what: str, at_least: int) -> None:
        def owed(seen: Seen) -> int | None:
            items = tiffin.work_store().items(OWED)
            seen.last = f"{len(items)} owed"
            return len(items) if len(items) >= at_least else None

        owed_at_kills.append(poll_until(owed, within=30.0, what=what, every=0.005))
        workers.kill(workers.newest)

    try:
        kitchen = open_kitchen(tiffin)
        workers.start()
        orders: list[Order] = []
        for _ in range(ROUNDS):
            orders += [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(BATCH)]
            kill_with_webhooks_owed("collects made, their captures owed", BATCH)
        cancelled = orders[::2]
        captured = waiting_for(tiffin, cancelled, {PaymentStatus.CAPTURED}, "captures")
        for wave in (captured[:BATCH], captured[BATCH:]):
            for order in wave:
                customer = cause(Role.CUSTOMER)
                # as the API does: the saga may be saving the same order at that moment
                retrying_conflicts(
                    lambda o=order, c=customer: tiffin.ordering.cancel_order(
                        o.id, "changed my mind", c
                    )
                )
            kill_with_webhooks_owed("refunds made, their webhooks owed", len(wave))
        waiting_for(tiffin, orders, SETTLED, "every payment settled")
        final = statuses(tiffin, orders)
    finally:
        workers.stop()
        tiffin.close()

    assert final == {
        PaymentStatus.CAPTURED: len(orders) - len(cancelled),
        PaymentStatus.REFUNDED: len(cancelled),
    }
    print(
        f"\npayments under kills: {len(orders)} payments, {workers.kills} SIGKILLs with "
        f"{sum(owed_at_kills)} webhooks owed at the kills ({owed_at_kills}); "
        f"final {dict(final)}, stranded 0"
    )


def waiting_for(
    tiffin: Tiffin, orders: list[Order], ends: set[PaymentStatus], what: str
) -> list[Order]:
    def reached(seen: Seen) -> list[Order] | None:
        found = statuses(tiffin, orders)
        seen.last = str(dict(found))
        return orders if set(found) <= ends else None

    done: Callable[[Seen], list[Order] | None] = reached
    return poll_until(done, within=60.0, what=what, every=0.05)
