"""Orders at the API's edge (API.md: Orders)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from api.schemas.common import LocationIn, LocationOut, MoneyOut, Strict, WholeNumber

VPA_PATTERN = r"^[A-Za-z0-9._\-]{2,256}@[A-Za-z]{2,64}$"


class OrderLineIn(Strict):
    menu_item_id: UUID
    quantity: WholeNumber = Field(ge=1, le=50)
    notes: str = Field(default="", max_length=500)


class AddressIn(Strict):
    line1: str = Field(min_length=1, max_length=300)
    line2: str = Field(default="", max_length=300)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    location: LocationIn


class PaymentMethodIn(Strict):
    method: Literal["upi"]
    vpa: str = Field(pattern=VPA_PATTERN, examples=["alice@okbank"])


class OrderCreate(Strict):
    restaurant_id: UUID
    items: list[OrderLineIn] = Field(min_length=1, max_length=100)
    delivery_address: AddressIn
    payment: PaymentMethodIn


class AcceptIn(Strict):
    prep_minutes: WholeNumber = Field(ge=1, le=240)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


class RatingIn(Strict):
    restaurant_stars: WholeNumber = Field(ge=1, le=5)
    courier_stars: WholeNumber = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)


class OrderLineOut(BaseModel):
    menu_item_id: UUID
    name: str
    unit_price: MoneyOut
    quantity: int
    notes: str
    line_total: MoneyOut


class AddressOut(BaseModel):
    line1: str
    line2: str
    city: str
    postal_code: str
    location: LocationOut


class OrderPaymentOut(BaseModel):
    id: UUID
    status: str
    upi_uri: str


class OrderDeliveryOut(BaseModel):
    id: UUID
    status: str


class Timestamps(BaseModel):
    placed_at: datetime | None = None
    paid_at: datetime | None = None
    accepted_at: datetime | None = None
    ready_at: datetime | None = None
    picked_up_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    rejected_at: datetime | None = None


class RatingOut(BaseModel):
    restaurant_stars: int
    courier_stars: int
    comment: str


class OrderPublic(BaseModel):
    id: UUID
    status: str
    customer_id: str
    restaurant_id: UUID
    courier_id: str | None
    items: list[OrderLineOut]
    subtotal: MoneyOut
    delivery_fee: MoneyOut
    total: MoneyOut
    delivery_address: AddressOut
    payment: OrderPaymentOut
    delivery: OrderDeliveryOut | None
    timestamps: Timestamps
    rating: RatingOut | None
    prep_minutes: int | None = None
    closing_reason: str | None = None
    position: int | None = None


class OrderSummaryOut(BaseModel):
    """An order in a list (from the order summary view)."""

    id: UUID
    status: str
    customer_id: str
    restaurant_id: UUID
    courier_id: str | None
    item_count: int
    total: MoneyOut
    payment_status: str | None
    delivery_status: str | None
    placed_at: datetime


class OrderStatusOut(BaseModel):
    """The order tracking hot view: an order's status, for apps polling it."""

    id: UUID
    status: str
    payment_status: str | None
    delivery_status: str | None
    courier_id: str | None
    status_at: datetime | None
