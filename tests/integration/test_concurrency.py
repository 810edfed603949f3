"""Optimistic concurrency on PostgreSQL: one writer per aggregate version, nothing partial."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from application.errors import ConcurrentChange
from application.settings import load_settings
from domain.order import Order, OrderStatus
from domain.restaurant import LineRequest
from domain.values import Role
from tests.scenario import SAGA, cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap

WRITERS = 20


@pytest.fixture
def postgres_tiffin(postgres_url: str, tmp_path: Path) -> Iterator[Tiffin]:
    settings = load_settings(
        {"TIFFIN_DATABASE_URL": postgres_url, "TIFFIN_DATA_DIR": str(tmp_path)}
    )
    with bootstrap(settings) as tiffin:
        yield tiffin


def test_twenty_writers_on_one_order_version_one_wins_the_rest_conflict_and_nothing_partial(
    postgres_tiffin: Tiffin,
) -> None:
    tiffin = postgres_tiffin
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    tiffin.ordering.confirm_payment(order.id, SAGA)
    head = tiffin.ordering.recorder.max_notification_id() or 0
    start = threading.Barrier(WRITERS)

    def accept_and_place_another(writer: int) -> Order | ConcurrentChange:
        stale = tiffin.ordering.get_order(order.id)
        stale.accept(writer + 1, kitchen.owner)
        # A second, new aggregate in the same save: it must not be stored if the save loses.
        other = Order.place(
            customer_id=f"bystander-{writer}",
            restaurant=kitchen.restaurant,
            requests=[LineRequest(kitchen.dosa.id, 1)],
            delivery_address=order.delivery_address,
            delivery_fee=order.delivery_fee,
            payment_vpa="bystander@upi",
            cause=SAGA,
        )
        start.wait()
        try:
            tiffin.ordering.commit(stale, other)
        except ConcurrentChange as conflict:
            return conflict
        return other

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(accept_and_place_another, range(WRITERS)))

    winners = [o for o in outcomes if isinstance(o, Order)]
    assert len(winners) == 1
    assert sum(isinstance(o, ConcurrentChange) for o in outcomes) == WRITERS - 1
    accepted = tiffin.ordering.get_order(order.id)
    assert accepted.status is OrderStatus.ACCEPTED
    assert accepted.version == 3
    new = tiffin.ordering.recorder.select_notifications(start=head + 1, limit=1000)
    assert {n.originator_id for n in new} == {order.id, winners[0].id}
    assert len(new) == 2
