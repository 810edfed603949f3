"""Which rate applies to a request: per user and route, as the settings say; and per client
address for requests without a valid token, the payment webhook at a rate of its own."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from fastapi import Request
from fastapi.requests import HTTPConnection

from api.problems import ApiProblem
from application.identity import Identity
from application.rate_limits import AsyncRateLimiter, Rate
from application.settings import Settings

PLACE_ORDER = ("POST", "/v1/orders")
LOCATION_PING = ("PUT", "/v1/couriers/me/location")
WEBHOOK = ("POST", "/v1/payments/webhook")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouteLimits:
    limiter: AsyncRateLimiter  # asked on the event loop: Redis through its async client
    orders: Rate
    location_pings: Rate
    default: Rate
    anonymous: Rate  # per client address, for requests without a valid token
    webhooks: Rate  # per client address: a gateway sends from few, and retries what is refused

    @classmethod
    def from_settings(cls, settings: Settings, limiter: AsyncRateLimiter) -> RouteLimits:
        return cls(
            limiter,
            orders=Rate(settings.rate_limit_orders_per_minute, 60.0),
            location_pings=Rate(settings.rate_limit_location_pings_per_second, 1.0),
            default=Rate(settings.rate_limit_per_minute, 60.0),
            anonymous=Rate(settings.rate_limit_anonymous_per_minute, 60.0),
            webhooks=Rate(settings.rate_limit_webhooks_per_minute, 60.0),
        )

    def rate_for(self, method: str, route: str) -> Rate:
        if (method, route) == PLACE_ORDER:
            return self.orders
        if (method, route) == LOCATION_PING:
            return self.location_pings
        return self.default

    async def check(self, request: Request, caller: Identity) -> None:
        """Counts the request against the caller's limit for its route; 429 when over."""
        route = _route(request)
        rate = self.rate_for(request.method, route)
        await self._hit(f"{caller.subject}|{request.method} {route}", rate, "for this route")

    async def check_anonymous(self, request: HTTPConnection) -> None:
        """Counts a request without a valid token against its client address's limit (the
        webhook's own, for the webhook); 429 when over. A limiter that cannot be asked (Redis
        down) lets it through: /healthz and /readyz must answer in an outage."""
        address = request.client.host if request.client else "unknown"
        try:
            if (request.scope.get("method"), _route(request)) == WEBHOOK:
                scope = "for webhooks from this address"
                await self._hit(f"webhook|{address}", self.webhooks, scope)
            else:
                await self._hit(f"anonymous|{address}", self.anonymous, "without a token")
        except ApiProblem:
            raise
        except Exception as error:  # the limiter's store is down: the request is not refused
            log.warning("anonymous rate limit not checked: %s", type(error).__name__)

    async def _hit(self, key: str, rate: Rate, scope: str) -> None:
        decision = await self.limiter.hit(key, rate)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after_seconds))
            raise ApiProblem(
                429,
                f"rate limit of {rate.count} per {rate.period_seconds:g} s reached {scope}",
                headers={"Retry-After": str(wait)},
            )


def _route(request: HTTPConnection) -> str:
    return str(getattr(request.scope.get("route"), "path", request.url.path))
