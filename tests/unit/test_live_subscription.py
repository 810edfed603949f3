"""A live subscription passes each update on once, in order: what it missed (read from the
feed), then what it heard meanwhile past the read, then what comes; a second read (the source
reconnected) sends nothing twice."""

from __future__ import annotations

from typing import Any

from api.live_hub import Subscription


def updates(*numbers: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"1-{n}", {"n": n}) for n in numbers]


def test_missed_then_heard_meanwhile_then_live_each_once_in_order() -> None:
    passed: list[int] = []
    subscription = Subscription("order:x", lambda _position, message: passed.append(message["n"]))

    for position, message in updates(3, 4, 5):  # heard while the feed is being read
        subscription.heard(position, message)
    subscription.caught_up("1-4", updates(2, 3, 4))  # the read: missed 2..4, newest 4
    for position, message in updates(5, 6):  # 5 again (heard twice), then 6
        subscription.heard(position, message)

    assert passed == [2, 3, 4, 5, 6]


def test_a_snapshot_at_a_position_drops_what_it_already_holds() -> None:
    passed: list[int] = []
    subscription = Subscription("order:x", lambda _position, message: passed.append(message["n"]))

    for position, message in updates(7, 8):
        subscription.heard(position, message)
    subscription.caught_up("1-7", [])  # a snapshot at 7: 7 is in it

    assert passed == [8]


def test_reading_again_after_a_reconnect_sends_nothing_twice() -> None:
    passed: list[int] = []
    subscription = Subscription("order:x", lambda _position, message: passed.append(message["n"]))
    subscription.caught_up("1-1", updates(1))
    subscription.heard(*updates(2)[0])

    after = subscription.resyncing()
    subscription.heard(*updates(4)[0])
    subscription.caught_up("1-3", updates(2, 3))  # read again after 2: but 2 was passed on

    assert after == "1-2"
    assert passed == [1, 2, 3, 4]
