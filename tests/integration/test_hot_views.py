"""The key-value views (Redis, and the in-process stand-in of the embedded default): order
tracking published to live followers, restaurants' open-order queues, exactly-once writes
guarded by the position, and rebuilds that switch generations."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from redis import Redis

from adapters.memory_views import MemoryViews
from application.settings import load_settings
from domain.values import Role
from projections.live_feed import parse_published, position_key
from projections.order_tracking import ORDER_TRACKING, tracked_order
from projections.projector import PositionMoved
from projections.rebuild import rebuild
from projections.registry import HOT_VIEWS
from projections.restaurant_queue import open_orders
from tests.redis_server import REDIS_URL, scratch_prefix
from tests.scenario import ManualClock, cause, courier_on_shift, gateway_says, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap
from wiring.workers import live_view, projector


@pytest.fixture(params=["in-process", "redis"])
def tiffin(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tiffin]:
    environ = {"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
    with scratch_prefix() as prefix:
        if request.param == "redis":
            environ |= {"TIFFIN_REDIS_URL": REDIS_URL, "TIFFIN_REDIS_PREFIX": prefix}
        with bootstrap(load_settings(environ), clock=ManualClock()) as platform:
            yield platform


def project(tiffin: Tiffin) -> None:
    for name in HOT_VIEWS:
        projector(tiffin, tiffin.views(), name).run_once()


def snapshots(tiffin: Tiffin) -> dict[str, Any]:
    prefix = tiffin.settings.redis_prefix
    return {name: tiffin.hot_views.snapshot(f"{prefix}view:{name}:") for name in HOT_VIEWS}


def a_busy_hour(tiffin: Tiffin) -> list[UUID]:
    """Orders paid, accepted, rejected, cancelled, picked up and delivered, through the saga."""
    saga = tiffin.runtime(["ordering", "payments", "deliveries"])
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(6)]
    saga.run_until_idle()
    for order in orders[:5]:
        gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
    saga.run_until_idle()
    tiffin.ordering.accept_order(orders[0].id, 10, kitchen.owner)
    tiffin.ordering.accept_order(orders[1].id, 15, kitchen.owner)
    tiffin.ordering.reject_order(orders[2].id, "out of dosa batter", kitchen.owner)
    tiffin.ordering.cancel_order(orders[3].id, "ordered twice", cause(Role.CUSTOMER))
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(orders[0].id)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    return [order.id for order in orders]


def test_the_hot_views_track_each_order_and_each_restaurants_open_queue(tiffin: Tiffin) -> None:
    order_ids = a_busy_hour(tiffin)
    project(tiffin)

    prefix = tiffin.settings.redis_prefix
    for order_id in order_ids:
        order = tiffin.ordering.get_order(order_id)
        view = tracked_order(tiffin.hot_views, prefix, order_id)
        assert view["status"] == order.status
        assert view["total_minor"] == str(order.total.minor)
        assert view["courier_id"] == (order.courier_id or "")
        assert view["payment_status"] == tiffin.payments.payment_of_order(order_id).status
    restaurant_id = tiffin.ordering.get_order(order_ids[0]).restaurant_id
    queue = open_orders(tiffin.hot_views, prefix, restaurant_id)
    expected = [
        (str(order_id), tiffin.ordering.get_order(order_id).status)
        for order_id in order_ids
        if tiffin.ordering.get_order(order_id).status
        in {"pending_acceptance", "accepted", "ready_for_pickup"}
    ]
    assert [(order_id, status) for order_id, status, _ in queue] == expected
    assert [paid for _, _, paid in queue] == sorted(paid for _, _, paid in queue)
    assert expected, "some orders are still open"


def test_a_redelivered_tenth_of_the_events_changes_nothing(tiffin: Tiffin) -> None:
    a_busy_hour(tiffin)
    project(tiffin)
    before = snapshots(tiffin)
    rng = random.Random(7)
    redelivered = 0
    for name in HOT_VIEWS:
        running = projector(tiffin, tiffin.views(), name)
        for leader in running.leaders:
            notifications = leader.recorder.select_notifications(
                start=1, limit=10_000, topics=running.topics
            )
            earlier = [0, *(n.id for n in notifications)]
            for after, notification in zip(earlier, notifications, strict=False):
                if rng.random() >= 0.1:
                    continue
                event = leader.mapper.to_domain_event(notification)
                with pytest.raises(PositionMoved):
                    running.writer.write(
                        leader.name, after, notification.id, running.changes_of(event)
                    )
                redelivered += 1

    assert redelivered >= 5
    assert snapshots(tiffin) == before


def test_live_followers_hear_every_status_change_in_order(tiffin: Tiffin) -> None:
    heard = Heard()
    prefix = tiffin.settings.redis_prefix
    kitchen = open_kitchen(tiffin)
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    with following(tiffin, f"{prefix}live:order:{order.id}", heard):
        tiffin.runtime(["payments"]).run_until_idle()
        gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "payment.captured")
        tiffin.runtime(["ordering"]).run_until_idle()
        tiffin.ordering.accept_order(order.id, 10, kitchen.owner)
        projector(tiffin, tiffin.views(), ORDER_TRACKING.name).run_once()
        heard.wait_for(5)

    messages = heard.messages
    assert [(m["type"], m["status"]) for m in messages if m["type"] == "status"] == [
        ("status", "awaiting_payment"),
        ("status", "pending_acceptance"),
        ("status", "accepted"),
    ]
    assert [m["status"] for m in messages if m["type"] == "payment"] == ["pending", "captured"]
    assert {m["order_id"] for m in messages} == {str(order.id)}
    assert heard.positions == sorted(heard.positions, key=position_key), "positions increase"
    assert len(set(heard.positions)) == len(heard.positions)


def test_a_rebuild_switches_to_a_new_generation_and_publishes_nothing(tiffin: Tiffin) -> None:
    a_busy_hour(tiffin)
    project(tiffin)
    before = snapshots(tiffin)
    prefix = tiffin.settings.redis_prefix
    heard = Heard()
    with following(tiffin, f"{prefix}live:order:*", heard):
        for name in HOT_VIEWS:
            running = projector(tiffin, tiffin.views(), name)
            view = live_view(tiffin, tiffin.views(), name)
            rebuilt = rebuild(running.projection, running.leaders, view, personal=tiffin.personal)
            assert rebuilt.events > 0
        rebuilt_views = snapshots(tiffin)
        probe = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        project(tiffin)
        heard.wait_for(1)

    assert rebuilt_views == before
    assert [m["order_id"] for m in heard.messages] == [str(probe.id)], "only the new order"
    assert tracked_order(tiffin.hot_views, prefix, probe.id)["status"] == "awaiting_payment"
    if tiffin.settings.redis_url:
        client = Redis.from_url(tiffin.settings.redis_url)
        for name in HOT_VIEWS:
            assert client.get(f"{prefix}view:{name}:live") == b"1"
            assert not list(client.scan_iter(match=f"{prefix}view:{name}:g0:*"))


class Heard:
    """Messages a live follower received, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.positions: list[str] = []
        self._more = threading.Condition()

    def __call__(self, _channel: str, payload: str) -> None:
        position, message = parse_published(payload)  # "<position> <json>"
        with self._more:
            self.messages.append(message)
            self.positions.append(position)
            self._more.notify_all()

    def wait_for(self, count: int) -> None:
        with self._more:
            assert self._more.wait_for(lambda: len(self.messages) >= count, 10), self.messages


@contextmanager
def following(tiffin: Tiffin, pattern: str, heard: Heard) -> Iterator[None]:
    """Follows the channels matching ``pattern``: through Redis pub/sub, or the stand-in."""
    store = tiffin.hot_views
    if isinstance(store, MemoryViews):
        stop = store.follow(
            lambda channel, m: heard(channel, m) if fnmatch(channel, pattern) else None
        )
        try:
            yield
        finally:
            stop()
        return
    client = Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.psubscribe(**{pattern: lambda m: heard(m["channel"].decode(), m["data"].decode())})
    pubsub.get_message(timeout=5)  # the subscription is confirmed before anything is published
    thread = pubsub.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        yield
    finally:
        thread.stop()
        thread.join()
        pubsub.close()
        client.close()
