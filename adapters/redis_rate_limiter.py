"""Rate limits in Redis: GCRA in one Lua script, so concurrent API workers share one count.

The script mirrors `application.rate_limits.gcra` in whole microseconds and takes "now" from
the server's TIME, so the clocks of the API machines do not matter. On an allowed request it
stores the new theoretical arrival time with an expiry at the moment the key is idle again, so
keys of users who stopped calling vanish by themselves.

Lua numbers are doubles: microseconds since the epoch (~1.8e15) are exact below 2**53, but
Redis turns numbers into strings with 14 significant digits, so the TAT is written with
string.format('%.0f') and every reply is a whole number (read the same in RESP2 and RESP3).
"""

from __future__ import annotations

from redis import Redis

from application.rate_limits import MICROSECONDS, Decision, Rate

GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local window = interval * count
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + interval
local wait = new_tat - window - now
if wait > 0 then return {0, string.format('%.0f', wait), 0} end
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, '0', math.floor((window - (new_tat - now)) / interval)}
"""


class RedisRateLimiter:
    """One Redis key per limited key (`prefix` + key) holding its theoretical arrival time."""

    def __init__(self, client: Redis, prefix: str = "tiffin:rate:") -> None:
        self.client = client
        self.prefix = prefix
        self._gcra = client.register_script(GCRA_SCRIPT)

    def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        allowed, wait_us, remaining = self._gcra(
            keys=[self.prefix + key], args=[rate.interval_us, rate.count]
        )
        return Decision(
            allowed=int(allowed) == 1,
            retry_after_seconds=int(wait_us) / MICROSECONDS,
            remaining=int(remaining),
        )
