"""The integration-events benchmark runs end to end (a smoke run: its figures are for `tiffin
bench kafka`, never asserted as targets here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from tests.postgres import SERVER_URL


def test_a_quick_run_measures_raw_produce_the_relay_and_its_lag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kafka.json"

    code = main(["kafka", "--quick", "--json", str(out), "--server-url", SERVER_URL])

    assert code == 0
    rows = {row["key"]: row for row in json.loads(out.read_text())["rows"]}
    assert sorted(rows) == ["a", "a2", "b", "c", "r", "s"]
    assert rows["a"]["per_second"] > 0
    assert rows["a2"]["per_second"] > 0
    assert rows["r"]["per_second"] > 0
    assert rows["b"]["extra"]["events"] == rows["a"]["extra"]["msgs"], "the same messages"
    assert rows["b"]["extra"]["ratio"] > 0
    lag = rows["c"]["extra"]
    assert lag["commands"] > 0
    assert lag["errors"] == lag["uncovered"] == 0, "every command's events acknowledged"
    assert rows["c"]["p99_ms"] is not None
    assert "kafka-relay from position 0" in capsys.readouterr().out
