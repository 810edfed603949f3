"""``tiffin bench live`` (``python -m bench live``): the live channels' fan-out benchmark.

In server mode (a scratch database on the local PostgreSQL, Redis under a scratch prefix):
``tiffin serve`` and a ``tiffin worker`` in processes of their own. This process opens
``--idle`` WebSocket connections that follow topics nothing happens on, and ``--active`` that
each follow an order's topic; then it issues the orders' commands through the applications
(payment, acceptance, delivery and courier, a command about every ``1 / --rate`` s, open loop),
and notes when each command returned (its events committed) and when its update reached the
follower's WebSocket: the fan-out latency, commit -> order tracking view -> Redis pub/sub -> API
process -> WebSocket, p50/p99. The API process's memory is read before and after the idle
connections open: memory per idle connection (its WebSocket, TLS and subscription), over the
TLS port and over ``TIFFIN_PLAIN_PORT`` (TLS ended by a proxy in front), after ``WARM_UP``
connections opened and closed on each (what grows once, a thread pool, is not per connection).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import websockets

from application.settings import load_settings
from bench.api_server import ApiStack, api_stack
from bench.database import add_server_url, scratch_database
from bench.lag import Commands, OrderInFlight, percentile
from bench.projections import table
from bench.report import write_json
from bench.seed import couriers_on_shift, open_restaurants
from bench.suite import Row
from domain.values import Role
from wiring.bootstrap import bootstrap
from wiring.tokens import platform_tokens

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
HOT_VIEWS = ("order_tracking", "restaurant_queue")  # the worker keeps the views, no saga:
# this process issues every command of the orders' lifecycles itself
LATENCY_P99_TARGET_MS = 100.0
MEMORY_TARGET_KIB = 50.0
WARM_UP = 100  # connections opened and closed over each port before memory is measured
STEPS = {  # the lifecycle command (bench.lag's step) and the order topic update it makes
    1: ("payment", "pending"),
    2: ("payment", "captured"),
    3: ("status", "pending_acceptance"),
    4: ("status", "accepted"),
    5: ("delivery", "requested"),
    6: ("delivery", "assigned"),
    7: ("courier", None),
    8: ("status", "ready_for_pickup"),
    9: ("delivery", "picked_up"),
    10: ("status", "picked_up"),
    11: ("delivery", "delivered"),
    12: ("status", "delivered"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiffin bench live",
        description="Fan-out latency from a command's commit to its update on a subscribed "
        "WebSocket, with idle followers connected too, and memory per idle connection.",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--idle", type=int, default=1000, help="idle followers (1000)")
    parser.add_argument("--active", type=int, default=100, help="followed orders (100)")
    parser.add_argument("--rate", type=float, default=100.0, help="commands/s (100)")
    parser.add_argument("--quick", action="store_true", help="100 idle, 10 active, 50/s")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="(%(default)s)")
    add_server_url(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.idle, args.active, args.rate = 100, 10, 50.0

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with (
        scratch_database(args.server_url) as database_url,
        tempfile.TemporaryDirectory(prefix="tiffin-bench-live-") as data_dir,
        api_stack(Path(data_dir), database_url, args.redis_url, HOT_VIEWS, plain=True) as stack,
    ):
        rows = asyncio.run(run(args, stack, database_url, Path(data_dir), say))
    print(table(rows))
    if args.json:
        write_json(rows, args.json, {"idle": args.idle, "active": args.active, "rate": args.rate})
        say(f"results written to {args.json}")
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Follower:
    """One WebSocket connection following one topic; notes when each update arrived."""

    def __init__(self, stack: ApiStack, token: str, tls: bool = True) -> None:
        self.stack, self.token, self.tls = stack, token, tls
        self.heard: dict[tuple[str, Any], float] = {}  # (type, status) -> time.time()
        self.connection: Any = None
        self._reading: asyncio.Task[None] | None = None

    async def follow(self, topic: str) -> None:
        stack = self.stack  # without TLS: TIFFIN_PLAIN_PORT's, as a TLS proxy in front uses
        url = (
            f"wss://{stack.host}:{stack.port}"
            if self.tls
            else f"ws://{stack.host}:{stack.plain_port}"
        )
        context = ssl.create_default_context(cafile=str(stack.cert)) if self.tls else None
        self.connection = await websockets.connect(
            f"{url}/v1/live",
            ssl=context,
            additional_headers={"Authorization": f"Bearer {self.token}"},
        )
        await self.connection.send(json.dumps({"type": "subscribe", "topic": topic}))
        while json.loads(await self.connection.recv())["type"] != "snapshot":
            pass
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.connection:
            message = json.loads(raw)
            if message["type"] == "ping":
                await self.connection.send('{"type": "pong"}')
            elif message["type"] == "update":
                data = message["data"]
                key = (data["type"], None if data["type"] == "courier" else data.get("status"))
                self.heard.setdefault(key, time.time())

    async def close(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        if self.connection is not None:
            await self.connection.close()


async def run(
    args: argparse.Namespace, stack: ApiStack, database_url: str, data_dir: Path, say: Any
) -> list[Row]:
    assert stack.redis_prefix is not None  # (no aggregate cache: this process's environment
    # is what the tests' later servers inherit, and they must read what other processes did)
    settings = load_settings(
        {
            "TIFFIN_DATABASE_URL": database_url,
            "TIFFIN_REDIS_URL": args.redis_url,
            "TIFFIN_REDIS_PREFIX": stack.redis_prefix,
            "TIFFIN_DATA_DIR": str(data_dir / "writer"),
            "TIFFIN_JWT_SECRET": stack.jwt_secret.decode(),
            "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
        }
    )
    tokens = platform_tokens(settings)
    admin = tokens.issue("bench-admin", Role.ADMIN)
    with bootstrap(settings) as tiffin:
        restaurants = open_restaurants(tiffin, 5, random.Random(7))  # noqa: S311 (test data)
        couriers = [(str(c.id), c.owner_id) for c in couriers_on_shift(tiffin, args.active + 10)]
        writer = Commands(tiffin, restaurants, couriers)
        orders = [writer.new_order() for _ in range(args.active)]
        for order in orders:
            _, place = writer.next_command(order)
            place()
            order.step = 1
        say(f"{args.active} orders placed; {args.idle} idle followers connecting ...")
        cold = rss_kib(stack.server.pid)
        warm = [
            *await _idle_followers(stack, admin, WARM_UP, True, 10**6),
            *await _idle_followers(stack, admin, WARM_UP, False, 10**6 + WARM_UP),
        ]
        warmed = rss_kib(stack.server.pid) - cold  # grows once (thread pools, caches), not per
        for follower in warm:  # connection: left out of the figures below
            await follower.close()
        idle: list[Follower] = []
        memory = {}
        for tls in (True, False):
            before = rss_kib(stack.server.pid)
            idle += await _idle_followers(stack, admin, args.idle, tls, len(idle))
            memory[tls] = (before, rss_kib(stack.server.pid))
            say(
                f"  {args.idle} idle followers {'over TLS' if tls else 'without TLS'}: "
                f"{(memory[tls][1] - before) / max(1, args.idle):.1f} KiB each"
            )
        say(f"{args.active} active followers connecting ...")
        active = [Follower(stack, admin) for _ in orders]
        await asyncio.gather(
            *(f.follow(f"order:{o.order_id}") for f, o in zip(active, orders, strict=True))
        )
        say(f"issuing {len(orders) * len(STEPS):,} commands at {args.rate:g}/s ...")
        committed = await asyncio.to_thread(_issue, writer, orders, args.rate)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _all_heard(active, committed):
            await asyncio.sleep(0.05)
        lags = [
            (follower.heard[key] - at) * 1000
            for follower, order in zip(active, orders, strict=True)
            for (order_id, step), at in committed.items()
            if order_id == order.order_id
            for key in [STEPS[step]]
            if key in follower.heard
        ]
        expected = len(committed)
        for follower in [*idle, *active]:
            await follower.close()
    return [
        Row(
            "f",
            f"fan-out, {2 * args.idle:,} idle + {args.active} active",
            None,
            len(lags) / max(1e-9, _window(committed)),
            "updates/s",
            _ms(percentile(lags, 0.50)),
            _ms(percentile(lags, 0.99)),
            {
                "max_ms": round(max(lags), 1) if lags else None,
                "heard": len(lags),
                "expected": expected,
                "target": f"p99<={LATENCY_P99_TARGET_MS:g}ms",
            },
        ),
        _memory_row(
            "m",
            "API memory per idle connection, TLS here",
            memory[True],
            args.idle,
            {"warm_up_connections": 2 * WARM_UP, "warm_up_growth_kib": warmed},
        ),
        _memory_row(
            "m2",
            "the same behind a TLS proxy (TIFFIN_PLAIN_PORT)",
            memory[False],
            args.idle,
        ),
    ]


def _memory_row(
    name: str,
    path: str,
    rss: tuple[int, int],
    connections: int,
    more: dict[str, Any] | None = None,
) -> Row:
    before, after = rss
    return Row(
        name,
        path,
        None,
        (after - before) / max(1, connections),
        "KiB",
        extra={
            "rss_before_kib": before,
            "rss_after_kib": after,
            "target": f"<={MEMORY_TARGET_KIB:g}KiB",
            **(more or {}),
        },
    )


async def _idle_followers(
    stack: ApiStack, token: str, count: int, tls: bool, numbered_from: int
) -> list[Follower]:
    """``count`` followers of courier topics nothing happens on, 50 connecting at a time."""
    idle = [Follower(stack, token, tls) for _ in range(count)]
    for start in range(0, count, 50):
        await asyncio.gather(
            *(
                follower.follow(f"courier:idle-{numbered_from + start + n}")
                for n, follower in enumerate(idle[start : start + 50])
            )
        )
    return idle


def _issue(writer: Commands, orders: list[OrderInFlight], rate: float) -> dict[Any, float]:
    """Each order's steps 1..12, round robin, a command every ``1 / rate`` s (open loop);
    when each returned, by (order id, step)."""
    committed: dict[tuple[Any, int], float] = {}
    lock = threading.Lock()
    interval, began, n = 1.0 / rate, time.monotonic(), 0

    def step(order: OrderInFlight) -> None:
        number = order.step
        _, command = writer.next_command(order)
        command()
        with lock:
            committed[(order.order_id, number)] = time.time()
        order.step += 1

    with ThreadPoolExecutor(8) as pool:
        for _ in STEPS:
            futures = []
            for order in orders:
                wait = began + n * interval - time.monotonic()
                n += 1
                if wait > 0:
                    time.sleep(wait)
                futures.append(pool.submit(step, order))
            for future in futures:  # an order's next step only once this one is done
                future.result()
    return committed


def _all_heard(active: list[Follower], committed: dict[Any, float]) -> bool:
    return sum(len(f.heard) for f in active) >= len(committed)


def _window(committed: dict[Any, float]) -> float:
    times = sorted(committed.values())
    return times[-1] - times[0] if len(times) > 1 else 1.0


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
