"""Auditors read an order's history with each event's position in its log, and the order as it
was at any version or moment, on SQLite and PostgreSQL (the group-commit recorders) alike.

Positions are checked against the applications' notification logs read directly; states against
a replay of the order's own events, folded here one by one.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application

from adapters.event_positions import StoredEventPositions
from adapters.group_commit import GroupCommitRecorder
from application.audit import InvalidPointInTime, NoSuchState, order_state_at
from application.errors import NotFound
from application.history import order_history
from application.runtime import Runtime
from domain.order import Order
from domain.values import Role
from tests.scenario import (
    DELIVERED_ORDER_EVENTS,
    HAPPY_PATH,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    place,
)
from wiring.bootstrap import Tiffin

MICROSECOND = timedelta(microseconds=1)


def delivered_order(tiffin: Tiffin, saga: Runtime) -> UUID:
    """An order taken through the happy path to its rating, while another customer's order
    is placed and paid in between (so the logs interleave two orders)."""
    kitchen = open_kitchen(tiffin)
    _, rider = courier_on_shift(tiffin)
    customer = cause(Role.CUSTOMER)
    order = place(tiffin, kitchen, customer)
    other = place(tiffin, kitchen, cause(Role.CUSTOMER))
    saga.run_until_idle()
    for placed in (order, other):
        gateway_says(tiffin, tiffin.payments.payment_of_order(placed.id), "payment.captured")
    saga.run_until_idle()
    tiffin.ordering.accept_order(order.id, 12, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    tiffin.ordering.mark_ready(order.id, kitchen.owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    saga.run_until_idle()
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()
    tiffin.ordering.rate_order(order.id, restaurant_stars=5, courier_stars=4, cause=customer)
    return order.id


def logged_positions(app: Application[Any]) -> dict[tuple[UUID, int], int]:
    """(aggregate id, version) → notification id, from the application's whole log."""
    notifications = app.recorder.select_notifications(start=1, limit=10_000)
    return {(UUID(str(n.originator_id)), n.originator_version): n.id for n in notifications}


def replayed(events: list[Any]) -> Order:
    """The order folded from these events, without the repository."""
    aggregate: Any = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Order)
    return aggregate


def test_history_entries_carry_the_positions_of_their_events_in_their_logs(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order_id = delivered_order(tiffin, saga)
    if tiffin.settings.database_url is not None:
        assert isinstance(tiffin.ordering.recorder, GroupCommitRecorder)
    apps = {"order": tiffin.ordering, "payment": tiffin.payments, "delivery": tiffin.deliveries}

    history = order_history(
        tiffin.ordering, tiffin.payments, tiffin.deliveries, order_id, StoredEventPositions()
    )

    assert tuple(e.type for e in history if e.stream == "order") == DELIVERED_ORDER_EVENTS
    for stream, app in apps.items():
        entries = [e for e in history if e.stream == stream]
        logged = logged_positions(app)
        [aggregate_id] = {e.aggregate_id for e in entries}
        assert [e.version for e in entries] == [
            e.originator_version for e in app.history(aggregate_id)
        ]
        assert [e.position for e in entries] == [logged[aggregate_id, e.version] for e in entries]
        positions = [e.position for e in entries if e.position is not None]
        assert positions == sorted(set(positions))
        assert len(positions) == sum(1 for key in logged if key[0] == aggregate_id)
    assert [(e.at, e.stream) for e in history] == sorted((e.at, e.stream) for e in history)


def test_positions_of_a_plain_applications_aggregate_and_of_none(tiffin: Tiffin) -> None:
    open_kitchen(tiffin)
    kitchen = open_kitchen(tiffin)  # its events come after the first one's
    positions = StoredEventPositions()
    logged = logged_positions(tiffin.restaurants)

    found = positions.positions(tiffin.restaurants, kitchen.restaurant.id)

    assert found == {v: n for (a, v), n in logged.items() if a == kitchen.restaurant.id}
    assert len(found) == kitchen.restaurant.version
    assert min(found.values()) > kitchen.restaurant.version
    assert positions.positions(tiffin.restaurants, uuid4()) == {}


def test_the_order_at_each_version_is_its_events_replayed_up_to_it(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order_id = delivered_order(tiffin, saga)
    events = tiffin.ordering.history(order_id)

    states = [
        order_state_at(tiffin.ordering, order_id, version=v) for v in range(1, len(events) + 1)
    ]

    for version, state in enumerate(states, start=1):
        expected = replayed(events[:version])
        assert state.version == version == expected.version
        assert vars(state) == vars(expected)
    statuses = [state.status for state in states]
    assert list(dict.fromkeys(statuses)) == list(HAPPY_PATH)


def test_the_order_at_a_moment_is_the_version_of_the_last_event_by_then(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order_id = delivered_order(tiffin, saga)
    events = tiffin.ordering.history(order_id)
    india = timezone(timedelta(hours=5, minutes=30))

    for event in events:
        at = event.timestamp
        version = event.originator_version
        assert order_state_at(tiffin.ordering, order_id, at=at).version == version
        assert order_state_at(tiffin.ordering, order_id, at=at.astimezone(india)).version == (
            version
        )
        if version > 1:
            before = order_state_at(tiffin.ordering, order_id, at=at - MICROSECOND)
            assert before.version == version - 1
    later = events[-1].timestamp + timedelta(days=1)
    assert order_state_at(tiffin.ordering, order_id, at=later).version == len(events)
    with pytest.raises(NoSuchState):
        order_state_at(tiffin.ordering, order_id, at=events[0].timestamp - MICROSECOND)


def test_a_version_and_a_time_bound_the_state_and_malformed_questions_are_refused(
    tiffin: Tiffin, saga: Runtime
) -> None:
    order_id = delivered_order(tiffin, saga)
    last = tiffin.ordering.get_order(order_id).version
    now = tiffin.ordering.history(order_id)[-1].timestamp

    with pytest.raises(NoSuchState) as beyond:
        order_state_at(tiffin.ordering, order_id, version=last + 1)
    assert isinstance(beyond.value, NotFound)
    for malformed in ({"version": 0}, {"at": now.replace(tzinfo=None)}):
        with pytest.raises(InvalidPointInTime):
            order_state_at(tiffin.ordering, order_id, **malformed)
    assert order_state_at(tiffin.ordering, order_id).version == last
    assert order_state_at(tiffin.ordering, order_id, version=1, at=now).version == 1
    assert order_state_at(tiffin.ordering, order_id, version=last, at=now).version == last


def test_an_unknown_order_has_no_history_and_no_state(tiffin: Tiffin) -> None:
    known = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    unknown = uuid4()
    now = tiffin.ordering.history(known.id)[-1].timestamp

    with pytest.raises(NotFound):
        order_history(
            tiffin.ordering, tiffin.payments, tiffin.deliveries, unknown, StoredEventPositions()
        )
    with pytest.raises(NotFound):
        order_state_at(tiffin.ordering, unknown, version=1)
    with pytest.raises(NotFound):
        order_state_at(tiffin.ordering, unknown, at=now)
