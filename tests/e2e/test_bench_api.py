"""The API benchmark runs end to end against a real `tiffin serve` and `tiffin worker` (a smoke
run: the figures are for `tiffin bench api`, not for tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis import Redis

from bench.__main__ import main
from tests.postgres import SERVER_URL
from tests.redis_server import REDIS_URL

HEALTHZ, ORDERS, STATUS = "GET /healthz", "POST /v1/orders", "GET /v1/orders/{id}/status"
EXPECTED = [  # protocol, endpoint, concurrent clients
    ("HTTP/1.1", HEALTHZ, 4),
    ("HTTP/1.1", ORDERS, 4),
    ("HTTP/1.1", f"{ORDERS} [CRUD]", 4),  # the baseline without event sourcing
    ("HTTP/3", HEALTHZ, 4),
    ("HTTP/3", ORDERS, 4),
    ("HTTP/1.1", STATUS, 4),
    ("HTTP/1.1", ORDERS, 1),
    ("HTTP/1.1", STATUS, 1),
]


def test_a_short_run_measures_every_row_in_server_mode_and_cleans_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "api.json"

    servers = ["--server-url", SERVER_URL, "--redis-url", REDIS_URL]

    code = main(["api", "--seconds", "1", "--clients", "4", "--json", str(out), *servers])

    assert code == 0
    results = json.loads(out.read_text())
    rows = results["rows"]
    found = [(row["extra"]["protocol"], row["label"], row["writers"]) for row in rows]
    assert found == EXPECTED
    for row in rows:
        where = f"{row['extra']['protocol']} {row['label']} x{row['writers']}"
        assert row["per_second"] > 0, f"{where}: no requests answered as expected"
        assert row["extra"]["errors"] == 0, f"{where}: {row['extra'].get('error_kinds')}"
        assert 0 < row["p50_ms"] <= row["p99_ms"], where
    ratios = {(r["extra"]["protocol"], r["label"], r["writers"]): r["extra"]["ratio"] for r in rows}
    assert ratios[("HTTP/1.1", HEALTHZ, 4)] == 1.0
    assert ratios[("HTTP/3", ORDERS, 4)] > 0
    assert ratios[("HTTP/1.1", STATUS, 4)] > 0
    assert rows[1]["extra"]["of_crud"] > 0, "Tiffin's orders/s over the CRUD baseline's"
    assert rows[2]["extra"]["cpu_cores"]["server"] > 0, "the CRUD server's CPU is measured"
    assert results["settings"]["mode"] == "server mode"
    printed = capsys.readouterr().out
    assert all(endpoint in printed for _, endpoint, _ in EXPECTED)
    per_order = rows[1]["extra"]["per_order"]  # HTTP/1.1 orders, caught up afterwards
    assert per_order["answered"] == rows[1]["extra"]["requests"]
    assert per_order["orders"] >= per_order["answered"], "and those still in flight at the end"
    assert per_order["events_by_type_per_order"]["Order.Placed"] == 1.0
    assert per_order["events_per_order"] >= 2, "the saga requested each order's payment"
    assert per_order["wal_bytes_per_order"] > 0
    assert per_order["commits_per_order"] >= 1
    assert per_order["kafka_messages_per_order"] >= 2
    assert set(per_order["cpu_ms_per_order"]) == {"server", "worker", "rest"}
    assert per_order["cpu_ms_per_order_server_side"] == pytest.approx(
        sum(per_order["cpu_ms_per_order"].values()), abs=0.01
    )
    assert per_order["table_reads_per_order"] > 0
    assert per_order["rows_written_per_order"] >= per_order["events_per_order"]
    assert per_order["redis_commands_per_order"] > 0
    assert "ms server-side = API" in printed

    plan = tmp_path / "capacity.md"
    assert main(["capacity", "--from", str(out), "--out", str(plan)]) == 0
    written = plan.read_text()
    assert "| 10,000,000 |" in written
    assert "events per order, placed to rated (counted) | 16 |" in written
    prefix = results["settings"]["redis_prefix"]
    redis = Redis.from_url(REDIS_URL)
    try:
        assert list(redis.scan_iter(match=f"{prefix}*", count=1000)) == [], "keys left behind"
    finally:
        redis.close()
