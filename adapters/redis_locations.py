"""Couriers' latest positions in Redis: one hash per courier, written only if newer.

A Lua script compares the ping's time with the one kept, so out-of-order pings from a flaky
network never move a courier back in time, and concurrent writers need no lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from redis import Redis

from application.locations import CourierPosition
from domain.values import Location

KEEP_IF_NEWER = """
local kept = redis.call('HGET', KEYS[1], 'at_us')
if kept and tonumber(kept) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at_us', ARGV[1], 'lat', ARGV[2], 'lng', ARGV[3], 'at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
POSITION_TTL_SECONDS = 24 * 3600


class RedisLocationStore:
    def __init__(self, client: Redis, prefix: str = "tiffin:courier:") -> None:
        self.client = client
        self.prefix = prefix
        self._keep_if_newer = client.register_script(KEEP_IF_NEWER)

    def record(self, position: CourierPosition) -> None:
        self._keep_if_newer(
            keys=[self.prefix + position.courier_id],
            args=[
                int(position.at.timestamp() * 1_000_000),
                repr(position.location.lat),
                repr(position.location.lng),
                position.at.isoformat(),
                POSITION_TTL_SECONDS,
            ],
        )

    def latest(self, courier_ids: Iterable[str]) -> dict[str, CourierPosition]:
        ids = list(courier_ids)
        pipeline = self.client.pipeline(transaction=False)
        for courier_id in ids:
            pipeline.hmget(self.prefix + courier_id, "lat", "lng", "at")
        found: dict[str, CourierPosition] = {}
        for courier_id, (lat, lng, at) in zip(ids, pipeline.execute(), strict=True):
            if lat is not None and lng is not None and at is not None:
                found[courier_id] = CourierPosition(
                    courier_id, Location(float(lat), float(lng)), datetime.fromisoformat(_text(at))
                )
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
