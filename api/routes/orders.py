"""``/v1/orders``: placing orders and moving them along; the order lists and documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.access import RestaurantOwners, require_role_of, require_visible
from api.auth import allow
from api.causation import cause_of, retrying_conflicts
from api.cursors import Cursor, decode_cursor, encode_cursor
from api.dependencies import (
    CatalogueView,
    Documents,
    IdempotencyKey,
    Once,
    OrderingApp,
    Owners,
    PaymentsApp,
    PersonalData,
    Reads,
    Views,
)
from api.idempotency import RunOnce, checked_key
from api.order_documents import OrderDocuments, document_response, order_document
from api.problems import ApiProblem
from api.schemas.common import MAX_POSITION, OrderingPosition, Page, money_out
from api.schemas.orders import (
    AcceptIn,
    OrderCreate,
    OrderPublic,
    OrderSummaryOut,
    RatingIn,
    ReasonIn,
)
from application.errors import NotFound
from application.identity import Identity
from application.ordering import Ordering
from application.payments import Payments
from application.results import Changed
from domain.errors import InvalidCommand
from domain.order import DeliveryAddress, Order
from domain.restaurant import LineRequest
from domain.values import Cause, Money, Role
from projections.catalogue import Catalogue
from projections.order_lists import orders_page
from projections.personal import lookups

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Customer = Annotated[Identity, allow(Role.CUSTOMER)]
Restaurant = Annotated[Identity, allow(Role.RESTAURANT)]
Canceller = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT)]
Reader = Annotated[Identity, allow(Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ANALYST)]
OrderLister = Annotated[Identity, allow(Role.CUSTOMER)]


@router.post("", status_code=201, response_model=OrderPublic)
def place_order(
    body: OrderCreate,
    caller: Customer,
    request: Request,
    ordering: OrderingApp,
    payments: PaymentsApp,
    catalogue: CatalogueView,
    documents: Documents,
    key: IdempotencyKey = None,
) -> Any:
    """Places an order priced from the live menu; it awaits its UPI payment."""
    address = body.delivery_address
    requests = [LineRequest(i.menu_item_id, i.quantity, i.notes) for i in body.items]
    try:
        changed = ordering.place_order(
            customer_id=caller.subject,
            restaurant_id=body.restaurant_id,
            requests=requests,
            delivery_address=DeliveryAddress(
                line1=address.line1,
                line2=address.line2,
                city=address.city,
                postal_code=address.postal_code,
                location=address.location.value(),
            ),
            payment_vpa=body.payment.vpa,
            cause=cause_of(caller, request),
            idempotency_key=checked_key(key),
        )
    except NotFound as error:
        raise ApiProblem(
            422, str(error), errors=[{"loc": ["body", "restaurant_id"], "msg": str(error)}]
        ) from None
    except InvalidCommand as refusal:
        raise _refused_order(catalogue, body, refusal) from None
    if changed.position is None:  # a retry with the same key: the order as it is now
        return document_response(documents.load(changed.value.id)[1], 201)
    return document_response(_placed_document(payments, changed.value), 201, changed.position)


def _placed_document(payments: Payments, order: Order) -> dict[str, Any]:
    milestones = {"placed_at": order.created_on}
    payment_id, upi_uri = payments.intent_for(order.id, order.total)
    payment = (payment_id, "pending", upi_uri)  # the saga requests it once the order is saved
    return order_document(order, milestones, payment, None)


def _refused_order(catalogue: Catalogue, body: OrderCreate, refusal: InvalidCommand) -> ApiProblem:
    """The domain's refusal, with each problem the catalogue can place in the request."""
    lines = [(item.menu_item_id, item.quantity) for item in body.items]
    problems = catalogue.order_problems(body.restaurant_id, lines)
    errors = [{"loc": ["body", *problem.loc], "msg": problem.msg} for problem in problems]
    return ApiProblem(422, str(refusal), errors=errors or None)


@router.get("", response_model=Page[OrderSummaryOut])
async def list_orders(
    caller: OrderLister,
    ordering: OrderingApp,
    views: Views,
    reads: Reads,
    personal: PersonalData,
    status: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Cursor = None,
    min_position: OrderingPosition = None,
) -> Any:
    """A customer's own orders (an admin's: everyone's), newest first."""
    after = decode_cursor(cursor)
    await views.wait("order_summary", ordering, min_position)
    own = caller.role is Role.CUSTOMER
    customer = lookups(personal, caller.subject) if own else None
    page = await run_in_threadpool(
        lambda: orders_page(reads, limit=limit, after=after, customer_ids=customer, status=status)
    )
    shown = caller.subject if own else None
    return {
        "items": [summary_out(row, shown) for row in page.rows],
        "next_cursor": encode_cursor(page.next_after),
    }


def summary_out(row: Any, customer_id: str | None = None) -> dict[str, Any]:
    """A row of the order summary view; ``customer_id`` is shown to that customer, anyone
    else sees the pseudonym the view keeps."""
    return {
        "id": row.order_id,
        "status": row.status,
        "customer_id": customer_id or row.customer_id,
        "restaurant_id": row.restaurant_id,
        "courier_id": row.courier_id,
        "item_count": row.item_count,
        "total": money_out(Money(row.total_minor, row.currency)),
        "payment_status": row.payment_status,
        "delivery_status": row.delivery_status,
        "placed_at": row.placed_at,
    }


@router.get("/{order_id}", response_model=OrderPublic)
def get_order(
    order_id: UUID,
    caller: Reader,
    documents: Documents,
    owners: Owners,
    min_position: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_POSITION,
            description="accepted; the order is read from the event store, so it is always current",
        ),
    ] = None,
) -> Any:
    order, document = documents.load(order_id)
    require_visible(caller, order, owners, frozenset({Role.ADMIN, Role.ANALYST}))
    return document_response(document)


class OrderCommand:
    """Runs a command on an order for its party, and answers the order as it is then."""

    def __init__(
        self,
        request: Request,
        ordering: Ordering,
        owners: RestaurantOwners,
        documents: OrderDocuments,
        once: RunOnce,
    ) -> None:
        self.request = request
        self.ordering = ordering
        self.owners = owners
        self.documents = documents
        self.once = once

    def __call__(
        self,
        caller: Identity,
        order_id: UUID,
        roles: tuple[Role, ...],
        command: Callable[[Ordering, Cause], Changed[Order]],
        body: Any = None,
    ) -> Any:
        """Runs ``command`` if the caller is the order's party in one of ``roles`` (or an
        admin; to anyone else the order does not exist). With an Idempotency-Key, a repeat
        of the same request gets the first answer instead of a 409."""
        ordering = self.ordering

        def run() -> tuple[int, dict[str, Any]]:
            require_role_of(caller, ordering.get_order(order_id), self.owners, *roles)
            cause = cause_of(caller, self.request)
            changed = retrying_conflicts(lambda: command(ordering, cause))
            document = self.documents.load(changed.value.id)[1]
            return 200, {**document, "position": changed.position}

        fingerprint = None if body is None else body.model_dump(mode="json")
        return self.once(caller.subject, fingerprint, run)


async def order_command(
    request: Request,
    ordering: OrderingApp,
    owners: Owners,
    documents: Documents,
    once: Once,
) -> OrderCommand:
    return OrderCommand(request, ordering, owners, documents, once)


RunOnOrder = Annotated[OrderCommand, Depends(order_command)]


RESTAURANT = (Role.RESTAURANT,)


@router.post("/{order_id}/accept", response_model=OrderPublic)
def accept_order(order_id: UUID, body: AcceptIn, caller: Restaurant, run: RunOnOrder) -> Any:
    return run(
        caller,
        order_id,
        RESTAURANT,
        lambda orders, cause: orders.accept_order(order_id, body.prep_minutes, cause),
        body,
    )


@router.post("/{order_id}/reject", response_model=OrderPublic)
def reject_order(order_id: UUID, body: ReasonIn, caller: Restaurant, run: RunOnOrder) -> Any:
    return run(
        caller,
        order_id,
        RESTAURANT,
        lambda orders, cause: orders.reject_order(order_id, body.reason, cause),
        body,
    )


@router.post("/{order_id}/ready", response_model=OrderPublic)
def mark_ready(order_id: UUID, caller: Restaurant, run: RunOnOrder) -> Any:
    return run(
        caller,
        order_id,
        RESTAURANT,
        lambda orders, cause: orders.mark_ready(order_id, cause),
    )


@router.post("/{order_id}/cancel", response_model=OrderPublic)
def cancel_order(order_id: UUID, body: ReasonIn, caller: Canceller, run: RunOnOrder) -> Any:
    """Customers before acceptance; the restaurant and admins before pickup (else 409)."""
    return run(
        caller,
        order_id,
        (Role.CUSTOMER, Role.RESTAURANT),
        lambda orders, cause: orders.cancel_order(order_id, body.reason, cause),
        body,
    )


@router.post("/{order_id}/rating", response_model=OrderPublic)
def rate_order(order_id: UUID, body: RatingIn, caller: Customer, run: RunOnOrder) -> Any:
    """Once, after delivery (else 409)."""
    return run(
        caller,
        order_id,
        (Role.CUSTOMER,),
        lambda orders, cause: orders.rate_order(
            order_id,
            restaurant_stars=body.restaurant_stars,
            courier_stars=body.courier_stars,
            comment=body.comment,
            cause=cause,
        ),
        body,
    )
