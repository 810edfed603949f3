"""Rate limits in Redis: exact sliding windows in one Lua script, so concurrent API workers
share one count.

Each limited key is a sorted set of its allowed requests in the window, scored by their time in
microseconds from the server's TIME (so the clocks of the API machines do not matter). The
script mirrors `application.rate_limits.admit`: it drops the members out of the window, counts
the rest, and either adds this request and sets the key to expire when its newest member
leaves the window (keys of users who stopped calling vanish by themselves), or answers how long
until the member holding the last place leaves. One script: atomic by construction.

Members are `<microseconds>-<n>`, n starting at the number counted: unique even when two
requests share a microsecond, and ZADD NX moves on to the next n should the server's clock ever
have gone back onto a member still there. Lua numbers are doubles: microseconds since the epoch
(~1.8e15) are exact below 2**53, but Redis turns numbers into strings with 14 significant digits,
so they are written with string.format('%.0f'), and every reply is a whole number (read the same
in RESP2 and RESP3).
"""

from __future__ import annotations

from redis.asyncio import Redis

from application.rate_limits import MICROSECONDS, Decision, Rate

SLIDING_WINDOW_SCRIPT = """
local period = tonumber(ARGV[1])
local count = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - period))
local counted = redis.call('ZCARD', KEYS[1])
if counted < count then
  local score = string.format('%.0f', now)
  local n = counted
  while redis.call('ZADD', KEYS[1], 'NX', score, score .. '-' .. n) == 0 do n = n + 1 end
  redis.call('PEXPIRE', KEYS[1], math.ceil(period / 1000))
  return {1, 0, count - counted - 1}
end
local last_place = redis.call('ZRANGE', KEYS[1], counted - count, counted - count, 'WITHSCORES')
return {0, tonumber(last_place[2]) + period - now, 0}
"""


class AsyncRedisRateLimiter:
    """One sorted set per limited key (`prefix` + key) holding its allowed requests' times,
    asked from the API's event loop: no thread per request."""

    def __init__(self, client: Redis, prefix: str = "tiffin:rate:") -> None:
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(SLIDING_WINDOW_SCRIPT)

    async def hit(self, key: str, rate: Rate) -> Decision:
        """Counts one request of `key` if `rate` allows it; a refused request is not counted."""
        allowed, wait_us, remaining = await self._admit(
            keys=[self.prefix + key], args=[rate.period_us, rate.count]
        )
        return Decision(
            allowed=int(allowed) == 1,
            retry_after_seconds=int(wait_us) / MICROSECONDS,
            remaining=int(remaining),
        )
