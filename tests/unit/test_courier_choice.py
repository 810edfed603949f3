"""Choosing the courier for a pickup: nearest first, then the one idle longest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from application.locations import Candidate, CourierPosition, choose_courier
from domain.values import Location

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PICKUP = Location(12.9452, 77.5713)


def candidate(courier_id: str, idle_minutes: int) -> Candidate:
    return Candidate(courier_id, T0 - timedelta(minutes=idle_minutes))


def position(courier_id: str, lat: float, lng: float) -> CourierPosition:
    return CourierPosition(courier_id, Location(lat, lng), T0)


def test_the_nearest_courier_is_chosen() -> None:
    near, far = candidate("near", 1), candidate("far", 60)
    positions = {"near": position("near", 12.95, 77.57), "far": position("far", 13.05, 77.70)}

    assert choose_courier(PICKUP, [far, near], positions) == near


def test_of_equally_near_couriers_the_one_idle_longest_is_chosen() -> None:
    fresh, waiting = candidate("fresh", 1), candidate("waiting", 30)
    same_spot = {c: position(c, 12.95, 77.57) for c in ("fresh", "waiting")}

    assert choose_courier(PICKUP, [fresh, waiting], same_spot) == waiting


def test_nobody_with_a_known_position_means_nobody_is_chosen() -> None:
    assert choose_courier(PICKUP, [candidate("ghost", 5)], {}) is None
    assert choose_courier(PICKUP, [], {}) is None


points = st.tuples(st.floats(12.5, 13.5), st.floats(77.0, 78.0))


@given(st.lists(st.tuples(points, st.integers(0, 600)), min_size=1, max_size=30))
def test_no_other_candidate_is_nearer_or_equally_near_and_idle_longer(
    couriers: list[tuple[tuple[float, float], int]],
) -> None:
    candidates = [candidate(f"c{n}", idle) for n, (_, idle) in enumerate(couriers)]
    positions = {f"c{n}": position(f"c{n}", lat, lng) for n, ((lat, lng), _) in enumerate(couriers)}

    chosen = choose_courier(PICKUP, candidates, positions)

    assert chosen is not None
    distance = positions[chosen.courier_id].location.distance_km(PICKUP)
    for other in candidates:
        other_distance = positions[other.courier_id].location.distance_km(PICKUP)
        assert round(other_distance, 6) >= round(distance, 6)
        if round(other_distance, 6) == round(distance, 6):
            assert other.idle_since >= chosen.idle_since
