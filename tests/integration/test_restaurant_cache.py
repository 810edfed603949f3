"""Orders price from a cached restaurant: a change made anywhere is seen by the next order."""

from __future__ import annotations

import pytest

from application.settings import Settings
from domain.errors import RestaurantOffline
from domain.values import Money, Role
from tests.scenario import cause, open_kitchen, place
from wiring.bootstrap import Tiffin, bootstrap


def test_an_unchanged_restaurant_is_read_once_and_then_served_from_the_cache(
    tiffin: Tiffin,
) -> None:
    kitchen = open_kitchen(tiffin)
    first = tiffin.restaurants.get_restaurant(kitchen.restaurant.id)
    assert tiffin.restaurants.get_restaurant(kitchen.restaurant.id) is first
    place(tiffin, kitchen, cause(Role.CUSTOMER))
    assert tiffin.restaurants.get_restaurant(kitchen.restaurant.id) is first


def test_a_change_made_by_another_process_prices_the_next_order_and_spares_old_readers(
    tiffin: Tiffin, settings: Settings
) -> None:
    kitchen = open_kitchen(tiffin)
    before = tiffin.restaurants.get_restaurant(kitchen.restaurant.id)
    with bootstrap(settings) as elsewhere:  # another API replica on the same store
        elsewhere.restaurants.change_menu_item(
            kitchen.restaurant.id, kitchen.dosa.id, price=Money.parse("150.00"), cause=kitchen.owner
        )
    order = place(tiffin, kitchen, cause(Role.CUSTOMER))
    dosa_line = next(line for line in order.lines if line.menu_item_id == kitchen.dosa.id)
    assert dosa_line.unit_price == Money.parse("150.00")
    assert before.menu[kitchen.dosa.id].price == Money.parse("120.00")  # not changed under it
    with bootstrap(settings) as elsewhere:
        elsewhere.restaurants.set_online(kitchen.restaurant.id, False, kitchen.owner)
    with pytest.raises(RestaurantOffline):
        place(tiffin, kitchen, cause(Role.CUSTOMER))


def test_commands_change_a_copy_so_a_refused_one_leaves_the_cached_restaurant_as_stored(
    tiffin: Tiffin,
) -> None:
    kitchen = open_kitchen(tiffin)
    cached = tiffin.restaurants.get_restaurant(kitchen.restaurant.id)
    tiffin.restaurants.set_online(kitchen.restaurant.id, False, kitchen.owner)
    assert cached.online  # the command changed its own copy; the cache moves on by reloading
    assert not tiffin.restaurants.get_restaurant(kitchen.restaurant.id).online
