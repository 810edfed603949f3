"""The read-model benchmark runs end to end (a smoke run: figures are for
`tiffin bench projections`, not tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from projections.registry import EVERY_VIEW
from tests.postgres import SERVER_URL


def test_a_quick_run_rebuilds_every_view_and_measures_lag_under_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "projections.json"

    code = main(["projections", "--quick", "--json", str(out), "--server-url", SERVER_URL])

    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    rate = {row["label"]: row["per_second"] for row in rows}
    expected = [
        "seed: orders, lifecycles",
        "order_summary: read only",
        *(f"{name}: {what}" for name in EVERY_VIEW for what in ("read + decode", "rebuild")),
        "order_summary: lag, poll 0.2 s",
    ]
    assert [label for label in expected if not rate.get(label)] == [], "rows without a rate"
    printed = capsys.readouterr().out
    assert all(label in printed for label in expected)
    [lag] = [row for row in rows if row["key"] == "g"]
    assert lag["p50_ms"] is not None
    assert lag["p99_ms"] is not None
    assert lag["extra"]["lagged"] > 0
    assert lag["extra"]["errors"] == 0
    assert lag["extra"]["uncovered"] == 0
