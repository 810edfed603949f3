"""Payments context: UPI payments of orders, their capture and their refund."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from application.base import Reaction, TiffinProcess, saga_cause
from application.results import Changed
from domain.order import total_of
from domain.payment import Payment, PaymentStatus, payment_id_for
from domain.values import Cause, Money


@dataclass(frozen=True)
class Merchant:
    """The payee named in UPI intent URIs."""

    vpa: str = "tiffin@upi"
    name: str = "Tiffin"


def upi_intent_uri(merchant: Merchant, payment_id: UUID, amount: Money, note: str) -> str:
    """A UPI deep link (``upi://pay?...``) that a customer's UPI app can pay."""
    query = urlencode(
        {
            "pa": merchant.vpa,
            "pn": merchant.name,
            "tr": str(payment_id),
            "am": amount.amount_text,
            "cu": amount.currency,
            "tn": note,
        },
        quote_via=quote,
        safe="@",
    )
    return f"upi://pay?{query}"


class Payments(TiffinProcess):
    """Payments of orders. Follows Ordering: a placed order gets its payment requested; an
    order cancelled or rejected gets its money back if it was taken, or its payment closed."""

    def __init__(self, env: dict[str, str] | None = None, *, merchant: Merchant) -> None:
        super().__init__(env)
        self.merchant = merchant

    def reactions(self) -> Mapping[str, Reaction]:
        return {
            "Order.Placed": self._request_for_placed_order,
            "Order.Cancelled": self._settle_closed_order,
            "Order.Rejected": self._settle_closed_order,
        }

    def request_payment(
        self, *, order_id: UUID, amount: Money, vpa: str, cause: Cause
    ) -> Changed[Payment]:
        payment = self._new_payment(order_id, amount, vpa, cause)
        return Changed(payment, self.commit(payment))

    def intent_for(self, order_id: UUID, amount: Money) -> tuple[UUID, str]:
        """The payment an order of this amount gets, and its UPI intent URI: known as soon as
        the order is placed, before the saga has requested the payment."""
        payment_id = payment_id_for(order_id)
        note = f"Tiffin order {str(order_id)[:8]}"
        return payment_id, upi_intent_uri(self.merchant, payment_id, amount, note)

    def _new_payment(self, order_id: UUID, amount: Money, vpa: str, cause: Cause) -> Payment:
        _, upi_uri = self.intent_for(order_id, amount)
        return Payment.request(
            order_id=order_id, amount=amount, vpa=vpa, upi_uri=upi_uri, cause=cause
        )

    def _request_for_placed_order(self, placed: Any) -> Iterable[Payment]:
        amount = total_of(placed.lines, placed.delivery_fee)
        yield self._new_payment(
            placed.originator_id, amount, placed.payment_vpa, saga_cause(placed)
        )

    def _settle_closed_order(self, closed: Any) -> Iterable[Payment]:
        payment = self.lookup(Payment, payment_id_for(closed.originator_id))
        if payment is None:
            return
        reason = f"order {type(closed).__name__.lower()}: {closed.reason}"[:500]
        if payment.status is PaymentStatus.CAPTURED:
            payment.request_refund(payment.amount, reason, saga_cause(closed))
        elif payment.status is PaymentStatus.PENDING:
            payment.fail(reason, saga_cause(closed))
        yield payment

    def get_payment(self, payment_id: UUID) -> Payment:
        return self.load(Payment, payment_id)

    def payment_of_order(self, order_id: UUID) -> Payment:
        return self.get_payment(payment_id_for(order_id))

    def capture_payment(
        self, payment_id: UUID, amount: Money, gateway_ref: str, cause: Cause
    ) -> Changed[Payment]:
        return self.change(Payment, payment_id, lambda p: p.capture(amount, gateway_ref, cause))

    def fail_payment(self, payment_id: UUID, reason: str, cause: Cause) -> Changed[Payment]:
        return self.change(Payment, payment_id, lambda p: p.fail(reason, cause))

    def expire_payment(self, payment_id: UUID, cause: Cause) -> Changed[Payment]:
        return self.change(Payment, payment_id, lambda p: p.expire(cause))

    def request_refund(
        self, payment_id: UUID, reason: str, cause: Cause, amount: Money | None = None
    ) -> Changed[Payment]:
        """Asks for a refund, of the whole captured amount unless ``amount`` says less."""
        return self.change(
            Payment,
            payment_id,
            lambda p: p.request_refund(p.amount if amount is None else amount, reason, cause),
        )

    def complete_refund(
        self, payment_id: UUID, amount: Money, gateway_ref: str, cause: Cause
    ) -> Changed[Payment]:
        return self.change(
            Payment, payment_id, lambda p: p.complete_refund(amount, gateway_ref, cause)
        )
