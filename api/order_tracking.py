"""Orders as the order tracking hot view has them, for the callers who may see them (the
status route, the order's Server-Sent Events and its live topic share it)."""

from __future__ import annotations

from uuid import UUID

from starlette.concurrency import run_in_threadpool

from api.access import RestaurantOwners, courier_of
from api.problems import ApiProblem
from application.identity import Identity
from application.ordering import Ordering
from domain.values import Role
from projections.key_views import HashReads, KeyStore
from projections.order_tracking import tracked_order, tracked_order_now
from projections.personal import Personal, lookups


class OrderTracking:
    """Orders as the order tracking hot view has them, for the callers who may see them."""

    def __init__(
        self,
        hot_views: KeyStore,
        hash_reads: HashReads,
        prefix: str,
        ordering: Ordering,
        owners: RestaurantOwners,
        personal: Personal,
    ) -> None:
        self.hot_views = hot_views
        self.hash_reads = hash_reads  # the same views, read from the event loop
        self.prefix = prefix
        self.ordering = ordering
        self.owners = owners
        self.personal = personal  # the view keeps the customer's pseudonym

    def visible(self, caller: Identity, order_id: UUID) -> dict[str, str]:
        """The order's hot view entry, if the caller may see the order; else 404. An order
        the view has not taken in yet (placed a moment ago) is read from the event store."""
        tracked = self.current(order_id)
        if not tracked:
            tracked = self.from_event_store(order_id)
        if self._may_see(caller, tracked):
            return tracked
        raise ApiProblem(404, f"no order with id {order_id}")

    async def visible_now(self, caller: Identity, order_id: UUID) -> dict[str, str]:
        """``visible``, on the event loop: a thread only for what needs the event store (an
        order the view has not taken in, a restaurant's owner not yet remembered)."""
        tracked = await tracked_order_now(self.hash_reads, self.prefix, order_id)
        if not tracked:
            tracked = await run_in_threadpool(self.from_event_store, order_id)
        if caller.role is Role.RESTAURANT:
            restaurant_id = UUID(tracked["restaurant_id"])
            if self.owners.known(restaurant_id) is None:
                await run_in_threadpool(self.owners, restaurant_id)
        if self._may_see(caller, tracked):
            return tracked
        raise ApiProblem(404, f"no order with id {order_id}")

    def current(self, order_id: UUID) -> dict[str, str]:
        return tracked_order(self.hot_views, self.prefix, order_id)

    def from_event_store(self, order_id: UUID) -> dict[str, str]:
        order, milestones = self.ordering.order_and_milestones(order_id)
        return {
            "status": str(order.status),
            "customer_id": order.customer_id,
            "restaurant_id": str(order.restaurant_id),
            "courier_id": order.courier_id or "",
            "status_at": max(milestones.values()).isoformat(),
        }

    def _may_see(self, caller: Identity, tracked: dict[str, str]) -> bool:
        if caller.role in (Role.ADMIN, Role.ANALYST):
            return True
        if caller.role is Role.CUSTOMER:
            return tracked.get("customer_id") in lookups(self.personal, caller.subject)
        if caller.role is Role.COURIER:
            return tracked.get("courier_id") == courier_of(caller)
        owner = self.owners(UUID(tracked["restaurant_id"]))
        return caller.role is Role.RESTAURANT and owner == caller.subject
