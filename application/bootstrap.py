"""The composition root: builds every application from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from adapters.event_store import event_store_env
from adapters.secrets import configured_or_generated
from application.couriers import Couriers
from application.deliveries import Deliveries
from application.ordering import Ordering
from application.payments import Merchant, Payments
from application.restaurants import Restaurants
from application.settings import Settings
from application.webhooks import PaymentWebhooks, WebhookSignatures
from domain.values import Money


@dataclass
class Tiffin:
    """The running platform: one application per bounded context."""

    settings: Settings
    restaurants: Restaurants
    ordering: Ordering
    payments: Payments
    deliveries: Deliveries
    couriers: Couriers
    webhooks: PaymentWebhooks

    def close(self) -> None:
        for app in (self.restaurants, self.ordering, self.payments, self.deliveries, self.couriers):
            app.close()

    def __enter__(self) -> Tiffin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def bootstrap(settings: Settings) -> Tiffin:
    """Builds the platform on the event store the settings choose."""
    restaurants = Restaurants(event_store_env(settings, Restaurants.name))
    payments = Payments(
        event_store_env(settings, Payments.name),
        merchant=Merchant(settings.merchant_vpa, settings.merchant_name),
    )
    webhook_secret = configured_or_generated(
        settings.payment_webhook_secret, settings.data_dir, "payment-webhook"
    )
    return Tiffin(
        settings=settings,
        restaurants=restaurants,
        ordering=Ordering(
            event_store_env(settings, Ordering.name),
            restaurants=restaurants,
            delivery_fee=Money.parse(settings.delivery_fee),
        ),
        payments=payments,
        deliveries=Deliveries(event_store_env(settings, Deliveries.name)),
        couriers=Couriers(event_store_env(settings, Couriers.name)),
        webhooks=PaymentWebhooks(payments, WebhookSignatures(webhook_secret)),
    )
