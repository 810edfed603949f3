"""Key-value views in Redis: each batch applied by one Lua script, guarded by the position.

The script resolves the generation (the live one unless a rebuild names its own), refuses the
batch unless the stored position is the one it was read after, then applies the operations
and moves the position. Redis runs a script atomically, so a crash never leaves half a batch
and a redelivered batch changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from projections.key_views import Op
from projections.live_feed import FEED_DAYS, FEED_KEEP, FeedRead

APPLY = """
local base, generation, leader = ARGV[1], ARGV[2], ARGV[3]
local after, up_to, mode = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[7]
local publishing = generation == ''
if publishing then generation = redis.call('GET', base .. 'live') or '0' end
local space = base .. 'g' .. generation .. ':'
if mode ~= 'unpark' then
  local stored = tonumber(redis.call('HGET', space .. 'positions', leader) or '0')
  if stored ~= after then return 0 end
  redis.call('HSET', space .. 'positions', leader, up_to)
end
local function named(k)
  if type(k) ~= 'table' then return k end
  local value = redis.call('HGET', space .. k[1], k[2])
  if not value or value == '' then return nil end
  return string.format(k[3], value)
end
local function key(k)
  local name = named(k)
  if name then return space .. name end
  return nil
end
for _, op in ipairs(cjson.decode(ARGV[6])) do
  local name = op[1]
  if name == 'feed' then
    local topic = publishing and named(op[2])
    if topic then
      local feed = space .. 'feed:' .. topic
      local id = redis.call('XADD', feed, 'MAXLEN', '~', FEED_KEEP, '*', 'm', op[3])
      redis.call('PEXPIRE', feed, FEED_MS)
      redis.call('PUBLISH', op[4] .. topic, id .. ' ' .. op[3])
    end
  else
    local k = key(op[2])
    if k then
      if name == 'hset' then redis.call('HSET', k, unpack(op, 3))
      elseif name == 'hdel' then redis.call('HDEL', k, unpack(op, 3))
      elseif name == 'zadd' then redis.call('ZADD', k, op[3], op[4])
      elseif name == 'zrem' then redis.call('ZREM', k, op[3])
      end
    end
  end
end
if mode == 'park' then redis.call('HSET', space .. 'parked', ARGV[8], ARGV[9]) end
if mode == 'unpark' then redis.call('HDEL', space .. 'parked', ARGV[8]) end
return 1
""".replace("FEED_KEEP", str(FEED_KEEP)).replace("FEED_MS", str(FEED_DAYS * 86_400_000))
SWITCH = """
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[1])
return old
"""
READ = """
local space = ARGV[1] .. 'g' .. (redis.call('GET', ARGV[1] .. 'live') or '0') .. ':'
if ARGV[2] == 'hash' then return redis.call('HGETALL', space .. ARGV[3]) end
return redis.call('ZRANGE', space .. ARGV[3], 0, -1, 'WITHSCORES')
"""
READ_FEED = """
local base, topic, after = ARGV[1], ARGV[2], ARGV[3]
local space = base .. 'g' .. (redis.call('GET', base .. 'live') or '0') .. ':'
local feed = space .. 'feed:' .. topic
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local ams, aseq = parts(a)
  local bms, bseq = parts(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local newest = '0-0'
if redis.call('EXISTS', feed) == 1 then
  local info = redis.call('XINFO', 'STREAM', feed)
  local first, added, length = '0-0', 0, 0
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then newest = info[i + 1] end
    if info[i] == 'recorded-first-entry-id' then first = info[i + 1] end
    if info[i] == 'entries-added' then added = info[i + 1] end
    if info[i] == 'length' then length = info[i + 1] end
  end
  -- trimmed entries (Redis 7.0 records no id of them): a position before the first entry
  -- kept may have missed some, so it gets a snapshot
  if after ~= '' and (added == length or not before(after, first))
      and not before(newest, after) then
    return {'missed', newest, redis.call('XRANGE', feed, '(' .. after, '+')}
  end
end
local found = {'snapshot', newest}
for i = 4, #ARGV, 2 do
  if ARGV[i] == 'hash' then table.insert(found, redis.call('HGETALL', space .. ARGV[i + 1]))
  else table.insert(found, redis.call('ZRANGE', space .. ARGV[i + 1], 0, -1, 'WITHSCORES')) end
end
return found
"""
DELETE_BATCH = 500


class RedisViews:
    transient: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError)

    def __init__(self, client: Redis) -> None:
        self.client = client
        self._apply = client.register_script(APPLY)
        self._switch = client.register_script(SWITCH)
        self._read = client.register_script(READ)
        self._read_feed = client.register_script(READ_FEED)

    def apply(
        self,
        base: str,
        generation: str,
        leader: str,
        after: int,
        up_to: int,
        ops: Sequence[Op],
        parked: tuple[str, str] | None = None,
    ) -> bool:
        mode = "write" if parked is None else "park"
        field, record = parked or ("", "")
        args: list[str | int] = [base, generation, leader, after, up_to, json.dumps(ops), mode]
        args += [field, record]
        return bool(self._apply(keys=[], args=args))

    def unpark(self, base: str, generation: str, field: str, ops: Sequence[Op]) -> None:
        self._apply(keys=[], args=[base, generation, "", 0, 0, json.dumps(ops), "unpark", field])

    def _space(self, base: str, generation: str) -> str:
        if not generation:
            generation = _text(self.client.get(base + "live") or b"0")
        return f"{base}g{generation}:"

    def position(self, base: str, generation: str, leader: str) -> int:
        stored = self.client.hget(self._space(base, generation) + "positions", leader)
        return int(stored) if stored is not None else 0

    def parked(self, base: str, generation: str) -> dict[str, str]:
        found = self.client.hgetall(self._space(base, generation) + "parked")
        return {_text(field): _text(record) for field, record in found.items()}

    def new_generation(self, base: str) -> str:
        generation = str(self.client.incr(base + "generations"))
        self._delete(f"{base}g{generation}:")  # nothing should be there; never serve leftovers
        return generation

    def switch(self, base: str, generation: str) -> None:
        retired = _text(self._switch(keys=[base + "live"], args=[generation]))
        if retired != generation:
            self._delete(f"{base}g{retired}:")

    def _delete(self, space: str) -> None:
        batch = []
        for key in self.client.scan_iter(match=space.replace("*", r"\*") + "*", count=DELETE_BATCH):
            batch.append(key)
            if len(batch) >= DELETE_BATCH:
                self.client.unlink(*batch)
                batch.clear()
        if batch:
            self.client.unlink(*batch)

    def hgetall(self, base: str, key: str) -> dict[str, str]:
        return _pairs(self._read(keys=[], args=[base, "hash", key]))

    def zrange(self, base: str, key: str) -> list[tuple[str, float]]:
        flat = [_text(part) for part in self._read(keys=[], args=[base, "zset", key])]
        return [(member, float(score)) for member, score in zip(flat[::2], flat[1::2], strict=True)]

    def read_feed(
        self, base: str, topic: str, after: str | None, hashes: Sequence[str], zsets: Sequence[str]
    ) -> FeedRead:
        keys = [part for k in hashes for part in ("hash", k)]
        keys += [part for k in zsets for part in ("zset", k)]
        found = self._read_feed(keys=[], args=[base, topic, after or "", *keys])
        kind, newest = _text(found[0]), _text(found[1])
        if kind == "missed":
            missed = [(_text(i), json.loads(_text(fields[1]))) for i, fields in found[2]]
            return FeedRead(newest, missed)
        read = [[_text(part) for part in value] for value in found[2:]]
        return FeedRead(
            newest,
            None,
            {
                k: dict(zip(v[::2], v[1::2], strict=True))
                for k, v in zip(hashes, read[: len(hashes)], strict=True)
            },
            {
                k: [(m, float(score)) for m, score in zip(v[::2], v[1::2], strict=True)]
                for k, v in zip(zsets, read[len(hashes) :], strict=True)
            },
        )

    def snapshot(self, base: str) -> dict[str, Any]:
        space = self._space(base, "")
        found: dict[str, Any] = {}
        for raw in self.client.scan_iter(match=space.replace("*", r"\*") + "*", count=DELETE_BATCH):
            key = _text(raw)
            kind = _text(self.client.type(key))
            if kind == "stream":  # a live feed: news of the view, not the view
                continue
            if kind == "hash":
                found[key[len(space) :]] = {
                    _text(f): _text(v) for f, v in self.client.hgetall(key).items()
                }
            else:
                members: Any = self.client.zrange(key, 0, -1, withscores=True)
                found[key[len(space) :]] = [(_text(m), float(score)) for m, score in members]
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AsyncRedisHashReads:
    """The views' hashes read through an async client, on the API's event loop."""

    def __init__(self, client: AsyncRedis) -> None:
        self._read = client.register_script(READ)

    async def hgetall(self, base: str, key: str) -> dict[str, str]:
        return _pairs(await self._read(keys=[], args=[base, "hash", key]))


def _pairs(found: Sequence[Any]) -> dict[str, str]:
    flat = [_text(part) for part in found]
    return dict(zip(flat[::2], flat[1::2], strict=True))
