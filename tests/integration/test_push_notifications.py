"""Push notifications from recorded events, through the real FCM adapter to a local FCM: each
party hears what matters to them, once per order and status; devices FCM no longer knows are
removed; FCM's Retry-After is honoured, and a message that keeps failing is parked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from adapters.work_store import WorkItemsCollector
from application.devices import courier_party, customer_party, restaurant_party
from application.push import QUEUE
from application.runtime import Runtime
from application.settings import Settings
from application.work import PARKED, SCHEDULED
from cli.main import main
from domain.values import Role
from tests.fakes.fcm import FakeFcm, pushing_through, running
from tests.scenario import (
    ManualClock,
    cause,
    courier_on_shift,
    gateway_says,
    open_kitchen,
    paid_order,
)
from wiring.bootstrap import Tiffin

MAX_ATTEMPTS = 3


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with running(FakeFcm()) as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, fcm: FakeFcm, tmp_path: Path) -> Settings:
    return pushing_through(settings, fcm, tmp_path, outbox_max_attempts=MAX_ATTEMPTS)


def device(name: str) -> str:
    return f"{name}-{uuid4().hex}:APA91b"


def register(tiffin: Tiffin, party: str, token: str) -> str:
    tiffin.devices().register(party, token, time.time())
    return token


def collapse_keys(fcm: FakeFcm, token: str) -> list[str]:
    return sorted(fcm.shown(token))


def test_each_party_hears_what_matters_to_them_once_per_order_and_status(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    courier, rider = courier_on_shift(tiffin)
    phone = register(tiffin, customer_party(customer.actor_id), device("customer"))
    tablet = register(tiffin, restaurant_party(kitchen.owner.actor_id), device("kitchen"))
    bike = register(tiffin, courier_party(str(courier.id)), device("courier"))

    order = paid_order(tiffin, saga, kitchen, customer)
    tiffin.ordering.accept_order(order.id, 15, kitchen.owner)
    saga.run_until_idle()
    delivery = tiffin.deliveries.delivery_of_order(order.id)
    tiffin.ordering.mark_ready(order.id, kitchen.owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)
    saga.run_until_idle()

    statuses = ("accepted", "courier_assigned", "delivered", "paid", "picked_up")
    assert collapse_keys(fcm, phone) == [f"{order.id}:{s}" for s in statuses]
    assert collapse_keys(fcm, tablet) == [f"{order.id}:paid"]
    assert collapse_keys(fcm, bike) == [f"{order.id}:courier_assigned"]
    assert len(fcm.delivered) == 7, "no message twice"
    accepted = fcm.shown(phone)[f"{order.id}:accepted"]
    assert accepted["notification"]["body"].startswith("Vidyarthi Bhavan is preparing")
    assert "15 min" in accepted["notification"]["body"]
    assert accepted["data"] == {"order_id": str(order.id), "status": "accepted"}
    assert tiffin.work_store().items(QUEUE) == []


def test_a_cancellation_tells_the_others_but_not_who_cancelled_and_the_refund_follows(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    phone = register(tiffin, customer_party(customer.actor_id), device("customer"))
    tablet = register(tiffin, restaurant_party(kitchen.owner.actor_id), device("kitchen"))
    order = paid_order(tiffin, saga, kitchen, customer)

    tiffin.ordering.cancel_order(order.id, "ordered twice", customer)
    saga.run_until_idle()
    assert collapse_keys(fcm, tablet) == [f"{order.id}:cancelled", f"{order.id}:paid"]
    assert collapse_keys(fcm, phone) == [f"{order.id}:paid"], "not told what they did"
    cancelled = fcm.shown(tablet)[f"{order.id}:cancelled"]["notification"]
    assert cancelled == {
        "title": "Order cancelled",
        "body": "An order of 3 item(s) was cancelled (ordered twice).",
    }

    gateway_says(tiffin, tiffin.payments.payment_of_order(order.id), "refund.processed")
    saga.run_until_idle()
    refunded = fcm.shown(phone)[f"{order.id}:refunded"]["notification"]
    assert (
        refunded["body"]
        == "315.50 INR for your order from Vidyarthi Bhavan is on its way back to you."
    )


def test_a_device_fcm_no_longer_knows_is_removed_and_the_others_still_hear(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    party = customer_party(customer.actor_id)
    old_phone = register(tiffin, party, device("uninstalled"))
    bad = register(tiffin, party, device("garbled"))
    phone = register(tiffin, party, device("phone"))
    fcm.unregistered.add(old_phone)
    fcm.invalid.add(bad)

    order = paid_order(tiffin, saga, kitchen, customer)

    assert [d.token for d in tiffin.devices().devices(party)] == [phone]
    assert collapse_keys(fcm, phone) == [f"{order.id}:paid"]
    tiffin.ordering.accept_order(order.id, 10, kitchen.owner)
    saga.run_until_idle()
    tried = [m["token"] for m in fcm.sends if m["android"]["collapse_key"].endswith(":accepted")]
    assert tried == [phone], "removed devices are not tried again"


def test_fcm_busy_is_tried_again_no_sooner_than_its_retry_after(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm, clock: ManualClock
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    phone = register(tiffin, customer_party(customer.actor_id), device("customer"))
    fcm.failures = [(429, {"Retry-After": "120"})]

    order = paid_order(tiffin, saga, kitchen, customer)

    [item] = tiffin.work_store().items(QUEUE)
    assert (item.status, item.attempts) == (SCHEDULED, 1)
    assert "429" in item.last_error
    assert item.due_at - clock() > 115, "Retry-After wins over the 1 s first backoff"
    clock.advance(60)
    saga.run_until_idle()
    assert fcm.shown(phone) == {}
    clock.advance(61)
    saga.run_until_idle()
    assert collapse_keys(fcm, phone) == [f"{order.id}:paid"]
    assert tiffin.work_store().items(QUEUE) == []


def test_a_message_that_keeps_failing_is_parked_and_goes_when_retried(
    tiffin: Tiffin,
    saga: Runtime,
    fcm: FakeFcm,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    phone = register(tiffin, customer_party(customer.actor_id), device("customer"))
    fcm.failures = [(503, {})] * MAX_ATTEMPTS

    order = paid_order(tiffin, saga, kitchen, customer)
    for _ in range(MAX_ATTEMPTS):
        clock.advance(10)  # past each backoff (1 s, 2 s), well before the order times out
        saga.run_until_idle()

    [item] = tiffin.work_store().items(QUEUE, PARKED)
    assert item.attempts == MAX_ATTEMPTS
    assert "503" in item.last_error
    assert fcm.shown(phone) == {}
    assert parked_metric(tiffin) == 1, "operators see it in /metrics"
    in_environment(tiffin, monkeypatch)
    assert main(["work", "list", "--queue", QUEUE, "--parked"]) == 0
    assert item.key in capsys.readouterr().out.replace("\n", "")
    assert main(["work", "retry", QUEUE, item.key]) == 0
    assert "back in line" in capsys.readouterr().out
    clock.advance(1)  # the retry made it due at real time
    saga.run_until_idle()
    assert collapse_keys(fcm, phone) == [f"{order.id}:paid"]
    assert parked_metric(tiffin) == 0


def in_environment(tiffin: Tiffin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a `tiffin` command needs to run on this platform."""
    for name, value in tiffin.settings.model_dump().items():
        wanted = name in ("data_dir", "database_url") or name.startswith("push_")
        if wanted and value is not None:
            monkeypatch.setenv(f"TIFFIN_{name.upper()}", str(value))


def test_a_push_worker_is_refused_when_push_is_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TIFFIN_DATA_DIR", str(tmp_path))
    assert main(["worker", "--only", "outbox", "push"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tiffin: configuration error: push: only with TIFFIN_PUSH_CREDENTIALS_FILE set"
    )


def parked_metric(tiffin: Tiffin) -> float | None:
    registry = CollectorRegistry()
    registry.register(WorkItemsCollector(tiffin.work_store(), [QUEUE]))
    return registry.get_sample_value("tiffin_work_items", {"queue": QUEUE, "status": PARKED})


def test_a_message_fcm_refuses_is_parked_at_once_with_its_reason(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    register(tiffin, customer_party(customer.actor_id), device("customer"))
    fcm.reject_payloads = True

    paid_order(tiffin, saga, kitchen, customer)

    [item] = tiffin.work_store().items(QUEUE, PARKED)
    assert item.attempts == 1
    assert item.last_error.startswith("FCM refused the message: 400")


def test_a_device_unregistered_before_its_message_went_gets_none(
    tiffin: Tiffin, saga: Runtime, fcm: FakeFcm, clock: ManualClock
) -> None:
    kitchen, customer = open_kitchen(tiffin), cause(Role.CUSTOMER)
    party = customer_party(customer.actor_id)
    phone = register(tiffin, party, device("customer"))
    fcm.failures = [(503, {})]
    paid_order(tiffin, saga, kitchen, customer)  # its message waits for a second attempt
    assert len(fcm.sends) == 1

    assert tiffin.devices().remove(phone, party)  # signed out meanwhile
    clock.advance(10)
    saga.run_until_idle()

    assert len(fcm.sends) == 1
    assert fcm.delivered == []
    assert tiffin.work_store().items(QUEUE) == []
