"""An order's whole life over the HTTP API, whatever carries the requests (``Send``): the
restaurant opens, the courier starts a shift, the customer orders, the gateway captures the
payment, the restaurant accepts and cooks, the saga assigns the courier, who delivers, and the
customer rates. Each answer's status and shape is checked on the way."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.api_checks import moment, poll, position_of, rupees, unset_moments
from tests.api_parties import Parties

MILESTONES = ("placed_at", "paid_at", "accepted_at", "ready_at", "picked_up_at", "delivered_at")
RATING = {"restaurant_stars": 5, "courier_stars": 4, "comment": "Crisp dosa, hot coffee"}


class Lifecycle(Parties):
    order_id = payment_id = delivery_id = upi_uri = ""
    total = Decimal(0)
    order_position = 0  # the latest of the Ordering log seen

    async def play(self) -> None:
        await self.open_restaurant()
        await self.start_courier()
        await self.place_order()
        await self.capture_payment()
        await self.restaurant_sees_order()
        await self.accept()
        await self.mark_ready()
        await self.await_courier()
        await self.courier_sees_delivery()
        await self.pick_up_and_deliver()
        await self.rate()
        await self.check_delivered()
        await self.shift(on=False)

    async def place_order(self) -> None:
        """Places the order with an Idempotency-Key, then again: still one order."""
        address = {"line1": "4 Church Street", "city": "Bengaluru", "postal_code": "560001"}
        body = {
            "restaurant_id": self.restaurant_id,
            "items": [{"menu_item_id": i, "quantity": n, "notes": ""} for i, _, n in self.lines],
            "delivery_address": {**address, "location": self.home},
            "payment": {"method": "upi", "vpa": f"cust{self.tag}@okbank"},
        }
        key = {"Idempotency-Key": f"order-{self.tag}"}
        order = await self.call("POST", "/v1/orders", self.customer, 201, "ordering", body, key)
        self.order_id, self.order_position = order["id"], position_of(order)
        assert (order["status"], order["customer_id"], order["restaurant_id"]) == (
            "awaiting_payment",
            self.subjects["customer"],
            self.restaurant_id,
        )
        assert (order["courier_id"], order["delivery"], order["rating"]) == (None, None, None)
        self._check_money(order)
        payment = order["payment"]
        self.payment_id, self.upi_uri = payment["id"], payment["upi_uri"]
        assert payment["status"] == "pending"
        assert self.upi_uri.startswith("upi://pay?")
        query = parse_qs(urlsplit(self.upi_uri).query)
        assert (query["tr"], query["am"]) == ([self.payment_id], [f"{self.total:.2f}"])
        moment(order, "placed_at")
        assert unset_moments(order) == set(order["timestamps"]) - {"placed_at"}
        again = await self.call("POST", "/v1/orders", self.customer, 201, "again", body, key)
        assert (again["id"], again["position"]) == (self.order_id, None), "a second order"

    def _check_money(self, order: Any) -> None:
        lines = [
            (line["menu_item_id"], line["quantity"], line["unit_price"], line["line_total"])
            for line in order["items"]
        ]
        assert lines == [(i, n, rupees(price), rupees(price * n)) for i, price, n in self.lines]
        subtotal = sum((price * n for _, price, n in self.lines), Decimal(0))
        self.total = subtotal + self.delivery_fee
        money = (order["subtotal"], order["delivery_fee"], order["total"])
        assert money == (rupees(subtotal), rupees(self.delivery_fee), rupees(self.total))

    async def capture_payment(self) -> None:
        """Once the saga has requested the payment, the gateway's signed webhook captures it
        (and the same webhook again changes nothing)."""
        path = f"/v1/payments/{self.payment_id}"
        waiting = "the saga requesting the payment"
        payment = await poll(self.send, path, self.customer, bool, waiting, meanwhile={404})
        assert (payment["order_id"], payment["status"]) == (self.order_id, "pending")
        assert (payment["amount"], payment["upi_uri"]) == (rupees(self.total), self.upi_uri)
        assert (payment["gateway_ref"], payment["refunds"]) == (None, [])
        event = {
            "id": f"evt_{self.tag}",
            "type": "payment.captured",
            "payment_id": self.payment_id,
            "gateway_ref": f"UTR{self.tag}",
            "amount": {"amount": f"{self.total:.2f}", "currency": "INR"},
        }
        raw = json.dumps(event).encode()
        for outcome in ("applied", "duplicate"):
            signed = {"Tiffin-Signature": self.sign(raw)}
            answer = await self.call(
                "POST", "/v1/payments/webhook", None, 200, "webhook", raw, signed
            )
            assert answer == {"outcome": outcome}
        order = await self.order_when(
            lambda o: o["status"] == "pending_acceptance",
            "the capture making it pending_acceptance",
        )
        assert order["payment"]["status"] == "captured"
        assert moment(order, "paid_at") >= moment(order, "placed_at")

    async def restaurant_sees_order(self) -> None:
        path = f"/v1/restaurants/{self.restaurant_id}/orders?min_position={self.order_position}"
        waiting = "the paid order in the restaurant's queue"
        queue = await poll(self.send, path, self.restaurant, lambda q: q["items"], waiting)
        items = [(item["order_id"], item["status"]) for item in queue["items"]]
        assert items == [(self.order_id, "pending_acceptance")], queue
        assert isinstance(queue["items"][0]["since"], int | float)

    async def accept(self) -> None:
        path, body = f"/v1/orders/{self.order_id}/accept", {"prep_minutes": 15}
        accepted = await self.call("POST", path, self.restaurant, 200, "accepting", body)
        assert (accepted["status"], accepted["prep_minutes"]) == ("accepted", 15)
        assert moment(accepted, "accepted_at") >= moment(accepted, "paid_at")
        self.order_position = position_of(accepted, after=self.order_position)

    async def mark_ready(self) -> None:
        path = f"/v1/orders/{self.order_id}/ready"
        ready = await self.call("POST", path, self.restaurant, 200, "marking it ready")
        assert ready["status"] == "ready_for_pickup"
        assert moment(ready, "ready_at") >= moment(ready, "accepted_at")
        self.order_position = position_of(ready, after=self.order_position)

    async def await_courier(self) -> None:
        order = await self.order_when(lambda o: o["courier_id"], "the saga assigning a courier")
        assert order["courier_id"] == self.courier_id, "another courier was assigned"
        assert order["delivery"]["status"] == "assigned"
        self.delivery_id = order["delivery"]["id"]

    async def courier_sees_delivery(self) -> None:
        path, waiting = "/v1/couriers/me/deliveries", "the order in the courier's deliveries"
        page = await poll(self.send, path, self.courier, lambda p: p["items"], waiting)
        [item] = page["items"]
        assert (item["id"], item["delivery_id"]) == (self.order_id, self.delivery_id)
        assert (item["courier_id"], item["restaurant_id"]) == (self.courier_id, self.restaurant_id)
        assert item["total"] == rupees(self.total)

    async def pick_up_and_deliver(self) -> None:
        base = f"/v1/deliveries/{self.delivery_id}"
        picked = await self.call("POST", f"{base}/pickup", self.courier, 200, "picking it up")
        assert (picked["status"], picked["order_id"]) == ("picked_up", self.order_id)
        assert picked["courier_id"] == self.courier_id
        assert isinstance(picked["eta_minutes"], int)
        assert picked["eta_minutes"] >= 1
        delivered = await self.call("POST", f"{base}/deliver", self.courier, 200, "delivering")
        assert (delivered["status"], delivered["eta_minutes"]) == ("delivered", None)
        position_of(delivered, after=position_of(picked))
        await self.order_when(lambda o: o["status"] == "delivered", "the order being delivered")

    async def rate(self) -> None:
        path = f"/v1/orders/{self.order_id}/rating"
        rated = await self.call("POST", path, self.customer, 200, "rating", RATING)
        assert (rated["status"], rated["rating"]) == ("delivered", RATING)
        self.order_position = position_of(rated, after=self.order_position)

    async def check_delivered(self) -> None:
        """The order, its payment and its delivery as they end, and the customer's list."""
        order = await self.call("GET", f"/v1/orders/{self.order_id}", self.customer, 200, "order")
        assert (order["status"], order["courier_id"]) == ("delivered", self.courier_id)
        assert (order["rating"], order["total"]) == (RATING, rupees(self.total))
        assert order["payment"]["status"] == "captured"
        assert order["delivery"] == {"id": self.delivery_id, "status": "delivered"}
        times = [moment(order, name) for name in MILESTONES]
        assert times == sorted(times)
        assert unset_moments(order) == {"cancelled_at", "rejected_at"}
        path = f"/v1/payments/{self.payment_id}"
        payment = await self.call("GET", path, self.customer, 200, "the payment")
        assert (payment["status"], payment["gateway_ref"]) == ("captured", f"UTR{self.tag}")
        assert payment["amount"] == rupees(self.total)
        path = f"/v1/deliveries/{self.delivery_id}"
        delivery = await self.call("GET", path, self.customer, 200, "the delivery")
        assert (delivery["status"], delivery["order_id"]) == ("delivered", self.order_id)
        assert delivery["courier_id"] == self.courier_id
        assert (delivery["pickup"], delivery["dropoff"]) == (self.kitchen, self.home)
        path = f"/v1/orders?min_position={self.order_position}"
        mine = await self.call("GET", path, self.customer, 200, "the customer's orders")
        listed = [(o["id"], o["status"], o["total"]) for o in mine["items"]]
        assert listed == [(self.order_id, "delivered", rupees(self.total))]

    async def order_when(self, done: Callable[[Any], Any], waiting_for: str) -> Any:
        """The order (as its customer sees it) once ``done``; bounded polling."""
        path = f"/v1/orders/{self.order_id}"
        return await poll(self.send, path, self.customer, done, waiting_for)
