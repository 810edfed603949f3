"""A guided tour: one order from placement to delivery, driven through the applications."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

from application.bootstrap import Tiffin
from application.history import HistoryEntry, order_history
from domain.order import DeliveryAddress
from domain.restaurant import LineRequest
from domain.values import Cause, Location, Money, Role

Say = Callable[[str], None]


def run_demo(tiffin: Tiffin, say: Say = print) -> list[HistoryEntry]:
    """Registers a restaurant and a courier, delivers one paid order, and prints its history."""
    run = uuid4().hex[:8]
    owner = Cause(f"owner-{run}", Role.RESTAURANT, f"demo-{run}")
    rider = Cause(f"rider-{run}", Role.COURIER, f"demo-{run}")
    customer = Cause(f"customer-{run}", Role.CUSTOMER, f"demo-{run}")
    gateway = Cause("upi-gateway", Role.SYSTEM, f"demo-{run}")
    saga = Cause("order-saga", Role.SYSTEM, f"demo-{run}")

    restaurant = tiffin.restaurants.register_restaurant(
        owner_id=owner.actor_id,
        name="Saravana Tiffin Centre",
        cuisine="south indian",
        address="12 MG Road, Bengaluru",
        location=Location(12.9756, 77.6050),
        opening_hours="Mo-Su 07:00-22:30",
        cause=owner,
    ).value
    dosa = tiffin.restaurants.add_menu_item(
        restaurant.id, name="Masala dosa", price=Money.parse("120.00"), category="dosa", cause=owner
    ).value
    coffee = tiffin.restaurants.add_menu_item(
        restaurant.id,
        name="Filter coffee",
        price=Money.parse("45.50"),
        category="drinks",
        cause=owner,
    ).value
    tiffin.restaurants.set_online(restaurant.id, True, owner)
    say(f"restaurant  {restaurant.name} ({restaurant.id}) online with 2 menu items")

    courier = tiffin.couriers.register_courier(
        owner_id=rider.actor_id,
        name="Ravi",
        vehicle_type="scooter",
        license_plate="KA01AB1234",
        cause=rider,
    ).value
    tiffin.couriers.set_on_shift(courier.id, True, rider)
    say(f"courier     {courier.name} ({courier.id}) on shift")

    order = tiffin.ordering.place_order(
        customer_id=customer.actor_id,
        restaurant_id=restaurant.id,
        requests=[LineRequest(dosa.id, 2, "extra chutney"), LineRequest(coffee.id, 1)],
        delivery_address=DeliveryAddress(
            line1="48 Residency Road",
            city="Bengaluru",
            postal_code="560025",
            location=Location(12.9667, 77.6067),
            phone="+919800000001",
        ),
        payment_vpa="asha@okbank",
        idempotency_key=f"demo-{run}",
        cause=customer,
    ).value
    payment = tiffin.payments.request_payment(
        order_id=order.id, amount=order.total, vpa=order.payment_vpa, cause=saga
    ).value
    say(f"order       {order.id} placed: total {order.total}")
    say(f"payment     {payment.upi_uri}")

    tiffin.payments.capture_payment(payment.id, order.total, f"UTR{run}", gateway)
    tiffin.ordering.confirm_payment(order.id, saga)
    tiffin.ordering.accept_order(order.id, 15, owner)
    delivery = tiffin.deliveries.request_delivery(
        order_id=order.id,
        pickup=restaurant.location,
        dropoff=order.delivery_address.location,
        cause=saga,
    ).value
    tiffin.couriers.take_delivery(courier.id, delivery.id, saga)
    tiffin.deliveries.assign_courier(delivery.id, str(courier.id), saga)
    tiffin.ordering.assign_courier(order.id, str(courier.id), saga)
    tiffin.ordering.mark_ready(order.id, owner)
    tiffin.deliveries.pick_up(delivery.id, rider)
    tiffin.ordering.mark_picked_up(order.id, rider)
    tiffin.deliveries.deliver(delivery.id, rider)
    tiffin.ordering.mark_delivered(order.id, rider)
    tiffin.couriers.release_delivery(courier.id, delivery.id, saga)
    final = tiffin.ordering.rate_order(
        order.id, restaurant_stars=5, courier_stars=4, comment="crisp dosa", cause=customer
    ).value
    say(f"order       {final.status}, rated {final.rating}")

    history = order_history(tiffin.ordering, tiffin.payments, tiffin.deliveries, order.id)
    say("")
    say(f"history of order {order.id} ({len(history)} events):")
    say(f"{'at (UTC)':<27} {'stream':<9} {'v':>2}  {'event':<16} actor")
    for entry in history:
        say(
            f"{entry.at.strftime('%Y-%m-%d %H:%M:%S.%f'):<27} {entry.stream:<9} "
            f"{entry.version:>2}  {entry.type:<16} {entry.actor_role}:{entry.actor_id}"
        )
    return history
