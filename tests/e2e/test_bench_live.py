"""The live channels' benchmark runs end to end (a smoke run: its figures are for `tiffin bench
live`, never asserted as targets here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from tests.postgres import SERVER_URL
from tests.redis_server import REDIS_URL


def test_a_quick_run_measures_fan_out_latency_and_memory_per_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "live.json"

    code = main(
        [
            "live",
            "--quick",
            "--json",
            str(out),
            "--server-url",
            SERVER_URL,
            "--redis-url",
            REDIS_URL,
        ]
    )

    assert code == 0
    rows = {row["key"]: row for row in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == ["f", "m", "m2"]
    fan_out = rows["f"]["extra"]
    assert fan_out["heard"] == fan_out["expected"] == 120, "every command's update arrived"
    assert rows["f"]["p99_ms"] is not None
    assert rows["m"]["per_second"] > 0
    assert rows["m2"]["per_second"] > 0  # the same, over the plain port
    assert "fan-out" in capsys.readouterr().out
