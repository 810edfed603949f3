"""The API benchmark's rows (a ratio to the trivial endpoint, CPU per request) and its table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.api_drive import Load
from bench.api_load import CLIENT_NAMES, CRUD, HEALTHZ, ORDERS, STATUS, TIFFIN, Step
from bench.harness import summarise
from bench.suite import Row

TARGETS = {  # (protocol, endpoint, one client?): issue 18's
    ("HTTP/1.1", ORDERS, False): ">=0.30 of /healthz, >=0.5 of CRUD, <=2.0 ms CPU/order",
    ("HTTP/3", ORDERS, False): ">=0.6 of HTTP/1.1",
    ("HTTP/1.1", STATUS, False): ">=0.7 of /healthz, <=0.4 ms server CPU",
    ("HTTP/1.1", STATUS, True): "p99<=2ms",
}
OURS = ("client", "server", "worker")
CORES = (*OURS, "rest")  # rest: PostgreSQL, Redis, and whatever else the machine ran
LEGEND = (
    "conc: concurrent clients, closed loop. ratio: req/s over GET /healthz's on the same "
    "protocol and client at the same concurrency. CRUD: orders/s over the CRUD baseline's "
    "(the same body and validation on the same server stack, one row in one table).",
    "CPU cores used meanwhile by the client (this process), tiffin serve, tiffin worker and the "
    "rest of the machine (PostgreSQL, Redis, anything else running).",
    "idle after: how long the server and worker stayed busy after the load (the saga and views "
    "catching up).",
)


def rows_of(loads: Sequence[tuple[Step, Load]]) -> list[Row]:
    """A row per step, with its rate as a ratio to /healthz's on the same protocol and client
    (HTTP/1.1's for HTTP/1.1 rows), and the CPU each process used per request."""
    trivial = {
        (s.protocol, s.client, s.clients): load.per_second
        for s, load in loads
        if s.endpoint == HEALTHZ
    }
    crud = {
        (s.protocol, s.client, s.clients): load.per_second for s, load in loads if s.target == CRUD
    }
    rows = []
    for step, load in loads:
        m = summarise(len(load.timings), load.elapsed, load.timings)
        base = trivial.get((step.protocol, step.client, step.clients))
        done = max(len(load.timings), 1)
        ours = sum(load.cpu.get(name, 0.0) for name in OURS)
        cpu = {**load.cpu, "rest": max(load.cpu["machine"] - ours, 0.0)}
        extra: dict[str, Any] = {
            "protocol": step.protocol,
            "client": CLIENT_NAMES[step.client],
            "ratio": round(load.per_second / base, 3) if base else None,
            "requests": len(load.timings),
            "errors": sum(load.errors.values()),
            **({"error_kinds": load.errors} if load.errors else {}),
            "cpu_cores": {k: round(v / load.elapsed, 2) for k, v in cpu.items()},
            "cpu_ms_per_request": {k: round(v * 1000 / done, 3) for k, v in cpu.items()},
            **load.extra,
        }
        baseline = crud.get((step.protocol, step.client, step.clients))
        if step.target == TIFFIN and step.endpoint == ORDERS and baseline:
            extra["of_crud"] = round(load.per_second / baseline, 3)
        aim = TARGETS.get((step.protocol, step.endpoint, step.clients == 1))
        if aim is not None and step.target == TIFFIN:
            extra["target"] = aim
        key = f"{step.protocol} {step.client}"
        clients = load.extra["clients"]
        rows.append(
            Row(key, step.label, clients, load.per_second, "req/s", m.p50_ms, m.p99_ms, extra)
        )
    return rows


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: Sequence[Row]) -> str:
    """protocol x endpoint: requests/s, p50, p99, the ratio to /healthz on the same protocol,
    errors, the CPU (in cores) each process used meanwhile, and the time to go idle after."""
    lines = [
        f"{'protocol':<9}{'client':<29}{'endpoint':<28}{'conc':>5}{'req/s':>9}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'ratio':>7}{'CRUD':>7}{'errors':>7}  "
        f"{'CPU cores: cli/srv/wrk/rest':<28}{'idle after':>10}{'CPU/order':>10}  target"
    ]
    for r in rows:
        e = r.extra
        used = e["cpu_cores"]
        cores = "/".join(f"{used[k]:.2f}" if k in used else "-" for k in CORES)
        lines.append(
            f"{e['protocol']:<9}{e['client']:<29}{r.label:<28}{_num(r.writers):>5}"
            f"{_num(r.per_second):>9}{_num(r.p50_ms, 1):>8}{_num(r.p99_ms, 1):>8}"
            f"{_num(e['ratio'], 3):>7}{_num(e.get('of_crud'), 3):>7}{e['errors']:>7}  "
            f"{cores:<28}{_num(e.get('settle_s'), 1):>8} s"
            f"{_cpu_per_order(e):>10}  {e.get('target', '')}"
        )
    return "\n".join([*lines, *LEGEND, *_footprints(rows)])


def _cpu_per_order(extra: dict[str, Any]) -> str:
    weighed = extra.get("per_order")
    return "" if weighed is None else f"{weighed['cpu_ms_per_order_server_side']:.2f} ms"


def _footprints(rows: Sequence[Row]) -> list[str]:
    """What each weighed row's orders cost, in CPU by process and in database work."""
    lines = []
    for r in rows:
        w = r.extra.get("per_order")
        if w is None:
            continue
        cpu = w["cpu_ms_per_order"]
        lines.append(
            f"per order ({r.extra['protocol']} {r.label}, {r.writers} clients, over the row and "
            f"the catch-up after it): CPU {w['cpu_ms_per_order_server_side']:.2f} ms server-side"
            f" = API {cpu.get('server', 0):.2f} + worker {cpu.get('worker', 0):.2f} + "
            f"PostgreSQL/Redis/rest {cpu.get('rest', 0):.2f}; {w['events_per_order']} events, "
            f"{w['commits_per_order']} transactions, {w['table_reads_per_order']} table reads, "
            f"{w['rows_written_per_order']} rows written, {w['redis_commands_per_order']} Redis "
            f"commands"
        )
    return lines
