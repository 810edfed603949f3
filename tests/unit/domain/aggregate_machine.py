"""What every aggregate state machine shares: checked commands, an event log and replay."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant

from domain.errors import DomainError
from domain.restaurant import Restaurant
from domain.values import Cause, Location, Role
from tests.unit.domain.stored_events import replay

T = TypeVar("T")
Refusals = Collection[type[DomainError]]


def mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """Draws from ``odd`` about one time in four: enough refusals, yet deep lifecycles."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda n: odd if n == 0 else usual)


# Text that require_text accepts, and text it refuses (blank once stripped).
BLANK_TEXTS = st.sampled_from(["", " ", "\t\n "])
TEXTS = mostly(st.text(min_size=1, max_size=12).filter(str.strip), BLANK_TEXTS)


def cause(role: Role, actor_id: str = "actor-1") -> Cause:
    return Cause(actor_id, role, "correlation-1")


def online_restaurant(owner: Cause) -> Restaurant:
    """A restaurant registered by ``owner``, online, with an empty menu."""
    restaurant = Restaurant.register(
        owner_id=owner.actor_id,
        name="Vidyarthi Bhavan",
        cuisine="south indian",
        address="32 Gandhi Bazaar",
        location=Location(12.9452, 77.5713),
        opening_hours="",
        cause=owner,
    )
    restaurant.go_online(owner)
    return restaurant


def is_blank(text: str) -> bool:
    return not text.strip()


class AggregateMachine(RuleBasedStateMachine):
    """Drives one aggregate with random commands, legal and illegal, logging every event.

    Subclasses create ``self.aggregate`` in an ``@initialize`` rule through :meth:`created`,
    and run every command through :meth:`attempt` with the refusals their model predicts.
    """

    aggregate: Any

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def created(self, aggregate: Aggregate, event_name: str) -> None:
        self.aggregate = aggregate
        self._collect([event_name])

    def attempt(self, refusals: Refusals, command: Callable[[], T], *event_names: str) -> T | None:
        """Runs a command the model says is legal (no refusals) or illegal (must refuse).

        A legal command must succeed and emit exactly ``event_names``. An illegal one must raise
        one of the named domain errors (the exact class: a sibling error is a failure) and leave
        the aggregate untouched: same version, same pending events, same state.
        """
        if not refusals:
            result = command()
            self._collect(list(event_names))
            return result
        aggregate: Aggregate = self.aggregate
        version = aggregate.version
        pending = len(aggregate.pending_events)
        state = copy.deepcopy(vars(aggregate))
        expected = sorted(error.__name__ for error in refusals)
        refused: DomainError | None = None
        try:
            command()
        except DomainError as error:
            refused = error
        assert refused is not None, f"expected one of {expected}, but the command succeeded"
        assert type(refused) in refusals, f"expected one of {expected}, got {refused!r}"
        assert aggregate.version == version, "a refused command changed the version"
        assert len(aggregate.pending_events) == pending, "a refused command emitted an event"
        assert vars(aggregate) == state, (
            f"a refused command changed {differences(state, vars(aggregate))}"
        )
        self._collect([])
        return None

    def _collect(self, event_names: list[str]) -> None:
        emitted = self.aggregate.collect_events()
        names = [type(event).__name__ for event in emitted]
        assert names == event_names, f"emitted {names}, expected {event_names}"
        self.events.extend(emitted)

    @invariant()
    def stored_events_rebuild_the_live_aggregate(self) -> None:
        live = self.aggregate
        assert live.version == len(self.events), (
            f"version {live.version}, {len(self.events)} events"
        )
        rebuilt = replay(self.events)
        rebuilt_state = {} if rebuilt is None else vars(rebuilt)
        assert rebuilt == live, f"rebuilt differs in {differences(rebuilt_state, vars(live))}"


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The attributes whose values differ, as (expected, actual)."""
    names = sorted(set(expected) | set(actual))
    return {n: (expected.get(n), actual.get(n)) for n in names if expected.get(n) != actual.get(n)}
