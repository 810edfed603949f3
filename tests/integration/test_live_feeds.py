"""The hot views' live feeds in both key stores (Redis, and the in-process stand-in): each fed
message gets a position, increasing; a follower back with a position the feed still reaches
gets exactly the messages after it; one the feed no longer reaches (trimmed), or one it never
gave, gets a snapshot of the keys asked for instead; a rebuild's generation feeds nobody, and a
topic named through a missing field of the view is not fed at all."""

from __future__ import annotations

from projections.key_views import KeyOps, lookup
from projections.live_feed import FEED_KEEP, position_key
from tests.integration.test_hot_views import tiffin  # noqa: F401 (the fixture: both stores)
from wiring.bootstrap import Tiffin

TOPIC = "restaurant:5f0b7a52-4c2e-4a51-9c2a-1f1f1f1f1f1f"
EARLY, LATER = 20, 2 * FEED_KEEP + 40  # Redis trims a whole node (100 entries) past 200
RECENT = FEED_KEEP // 2


class Feeding:
    def __init__(self, platform: Tiffin, generation: str = "") -> None:
        self.store = platform.hot_views
        self.prefix = platform.settings.redis_prefix
        self.base = f"{self.prefix}view:feeds-test:"
        self.generation = generation
        self.fed = 0

    def feed(self, count: int) -> str:
        """``count`` more messages on TOPIC, 20 a batch, the view's keys changing with them;
        the feed's newest position then."""
        for start in range(self.fed, self.fed + count, 20):
            after = self.store.position(self.base, self.generation, "Ordering")
            ops = KeyOps(self.prefix)
            for n in range(start, min(self.fed + count, start + 20)):
                ops.hset("restaurant:open", {f"order-{n}": "pending_acceptance"})
                ops.feed(TOPIC, {"type": "queued", "n": n})
            applied = self.store.apply(
                self.base, self.generation, "Ordering", after, after + 1, ops.ops
            )
            assert applied
        self.fed += count
        return self.store.read_feed(self.base, TOPIC, None, [], []).position


def test_a_follower_gets_what_it_missed_or_a_snapshot(tiffin: Tiffin) -> None:  # noqa: F811
    feeding = Feeding(tiffin)
    store, base = tiffin.hot_views, feeding.base
    fresh = store.read_feed(base, TOPIC, None, ["restaurant:open"], [])
    assert (fresh.position, fresh.missed, fresh.hashes) == ("0-0", None, {"restaurant:open": {}})

    early = feeding.feed(EARLY)
    recent = feeding.feed(LATER - RECENT)
    newest = feeding.feed(RECENT)
    caught_up = store.read_feed(base, TOPIC, recent, ["restaurant:open"], [])
    trimmed = store.read_feed(base, TOPIC, early, ["restaurant:open"], [])
    unknown = store.read_feed(base, TOPIC, "99999999999999-0", ["restaurant:open"], [])

    assert caught_up.missed is not None
    assert [m["n"] for _, m in caught_up.missed] == list(range(feeding.fed - RECENT, feeding.fed))
    positions = [p for p, _ in caught_up.missed]
    assert positions == sorted(positions, key=position_key)
    assert len(set(positions)) == RECENT
    assert positions[-1] == caught_up.position == newest
    assert caught_up.hashes == {}, "no snapshot when the missed messages are there"
    assert store.read_feed(base, TOPIC, newest, [], []).missed == []
    for snapshot in (trimmed, unknown):
        assert snapshot.missed is None
        assert snapshot.position == newest
        assert len(snapshot.hashes["restaurant:open"]) == feeding.fed


def test_a_rebuild_feeds_nobody_and_a_missing_lookup_feeds_no_topic(
    tiffin: Tiffin,  # noqa: F811
) -> None:
    live = Feeding(tiffin)
    shadow = Feeding(tiffin, tiffin.hot_views.new_generation(live.base))
    shadow.feed(20)
    ops = KeyOps(live.prefix)
    ops.feed(lookup("order:nobody", "courier_id", "courier:%s"), {"type": "assigned"})
    assert tiffin.hot_views.apply(live.base, "", "Ordering", 0, 1, ops.ops)

    assert tiffin.hot_views.read_feed(live.base, TOPIC, None, [], []).position == "0-0"
    courier = tiffin.hot_views.read_feed(live.base, "courier:", None, [], [])
    assert courier.position == "0-0"
