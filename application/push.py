"""Push notifications: the ``push`` work queue, fed by recorded order and payment events.

Each event a party should hear of becomes a ``notify`` item (one per event, exactly once: the
queue's intake is a projector). Carrying it out reads the order as it was at that event, words
the notices (``application.notices``) and puts one ``send`` item per device in its place, in
the same transaction. Each ``send`` is one FCM call, at least once: a repeat after a crash
carries the same collapse key, so the device shows it once.

- a device FCM no longer knows (``DeviceGone``) is removed, and its message dropped;
- FCM busy or down (``PushUnavailable``): tried again with backoff, no sooner than its
  ``Retry-After``, and parked after the queue's attempts (``tiffin work retry push KEY``);
- a message FCM refuses (``PushRejected``): parked at once, with FCM's reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from application.devices import DeviceRegistry, party_of
from application.notices import NEEDS_BEFORE, NOTICES, Happened, Notice, notices_for
from application.work import (
    Done,
    EventChanges,
    Outcome,
    Park,
    Replace,
    Schedule,
    TryLater,
    WorkItem,
)
from domain.order import Order
from domain.payment import Payment
from domain.restaurant import Restaurant

QUEUE = "push"
NOTIFY, SEND = "notify", "send"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushMessage:
    token: str
    title: str
    body: str
    data: Mapping[str, str]
    collapse_key: str


class DeviceGone(Exception):
    """FCM no longer delivers to this token (the app was uninstalled, or the token is bad)."""


class PushRejected(Exception):
    """FCM refused the message itself: sending it again will not help."""


class PushUnavailable(TryLater):
    """FCM could not take the message now (busy, down, unreachable): try again later."""


class PushSender(Protocol):
    def send(self, message: PushMessage) -> None:
        """Hands the message to FCM; raises DeviceGone, PushRejected or PushUnavailable."""
        ...


class Orders(Protocol):
    def get_order(self, order_id: UUID, version: int | None = None) -> Order: ...


class PaymentLookup(Protocol):
    def get_payment(self, payment_id: UUID) -> Payment: ...


class RestaurantLookup(Protocol):
    def get_restaurant(self, restaurant_id: UUID) -> Restaurant: ...


def _notify(event: Any) -> list[Schedule]:
    name = f"{type(event).__qualname__}"
    payment = name.startswith("Payment.")
    cause = getattr(event, "cause", None)
    payload = {
        "kind": NOTIFY,
        "event": name,
        "order_id": str(event.order_id if payment else event.originator_id),
        "version": event.originator_version,
        "payment_id": str(event.originator_id) if payment else None,
        "actor": None if cause is None else party_of(cause.role, cause.actor_id),
    }
    key = f"{NOTIFY}:{event.originator_id}:{event.originator_version}"
    return [Schedule(key, event.timestamp.timestamp(), payload)]


PUSH_CHANGES: Mapping[str, EventChanges] = {name: _notify for name in NOTICES}


def send_key(notice: Notice, order_id: str, token: str) -> str:
    device = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"{SEND}:{order_id}:{notice.status}:{device}"


@dataclass
class PushNotifications:
    """The push queue's handler."""

    orders: Orders
    payments: PaymentLookup
    restaurants: RestaurantLookup
    devices: DeviceRegistry
    sender: PushSender

    def __call__(self, item: WorkItem) -> Outcome:
        if item.payload["kind"] == NOTIFY:
            return Replace(self._fan_out(item.payload))
        return self._send(item.payload)

    def _fan_out(self, payload: Mapping[str, Any]) -> list[Schedule]:
        happened = self._happened(payload)
        order_id = payload["order_id"]
        sends = []
        for notice in notices_for(happened, payload["actor"]):
            for device in self.devices.devices(notice.party):
                message = {
                    "kind": SEND,
                    "party": notice.party,
                    "token": device.token,
                    "title": notice.title,
                    "body": notice.body,
                    "data": {"order_id": order_id, "status": notice.status},
                    "collapse_key": f"{order_id}:{notice.status}",
                }
                sends.append(Schedule(send_key(notice, order_id, device.token), 0.0, message))
        return sends

    def _happened(self, payload: Mapping[str, Any]) -> Happened:
        event, order_id = payload["event"], UUID(payload["order_id"])
        refunded = None
        if payload["payment_id"] is not None:
            payment = self.payments.get_payment(UUID(payload["payment_id"]))
            refunded = None if payment.refund is None else payment.refund.amount
            after, before = self.orders.get_order(order_id), None
        else:
            version = int(payload["version"])
            after = self.orders.get_order(order_id, version)
            needs_before = event in NEEDS_BEFORE
            before = self.orders.get_order(order_id, version - 1) if needs_before else None
        restaurant = self.restaurants.get_restaurant(after.restaurant_id)
        return Happened(event, before, after, restaurant.name, restaurant.owner_id, refunded)

    def _send(self, payload: Mapping[str, Any]) -> Outcome:
        token = payload["token"]
        if self.devices.holder(token) != payload["party"]:
            return Done()  # unregistered (or signed into another account) since
        message = PushMessage(
            token, payload["title"], payload["body"], payload["data"], payload["collapse_key"]
        )
        try:
            self.sender.send(message)
        except DeviceGone as gone:
            self.devices.remove(token)
            log.info("push: device removed, FCM no longer knows it (%s)", gone)
        except PushRejected as refusal:
            return Park(f"FCM refused the message: {refusal}")
        return Done()
