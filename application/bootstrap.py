"""The composition root: builds every application from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from adapters.event_store import event_store_env
from adapters.http_gateway import HttpUpiGateway
from adapters.secrets import configured_or_generated
from adapters.simulated_gateway import SimulatedUpiGateway
from application.couriers import Couriers
from application.deliveries import Deliveries
from application.gateway import UpiGateway
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
    gateway: UpiGateway

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
    webhooks = PaymentWebhooks(payments, WebhookSignatures(webhook_secret))
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
        webhooks=webhooks,
        gateway=_gateway(settings, webhooks, webhook_secret),
    )


def _gateway(settings: Settings, webhooks: PaymentWebhooks, webhook_secret: bytes) -> UpiGateway:
    """The UPI gateway the settings choose: a real one over HTTP, or the simulated one."""
    if settings.payment_gateway == "http":
        assert settings.payment_gateway_url is not None  # Settings refuses http without a URL
        key = settings.payment_gateway_key
        return HttpUpiGateway(settings.payment_gateway_url, key.get_secret_value() if key else "")
    return SimulatedUpiGateway(webhooks, webhook_secret, settings.simulated_capture_seconds)
