"""The benchmark suite runs end to end (a smoke run: figures are for `tiffin bench`, not tests)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main
from tests.postgres import SERVER_URL


def test_a_quick_bench_run_measures_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"

    assert (
        main(["--quick", "--seconds", "0.2", "--json", str(out), "--server-url", SERVER_URL]) == 0
    )

    rows = json.loads(out.read_text())["rows"]
    measured = {(r["key"], r["writers"]) for r in rows if r["per_second"]}
    assert measured == {
        ("a", 1),
        ("a", 4),
        ("a", 16),
        ("b", 1),
        ("b", 4),
        ("b", 16),
        ("c", 1),
        ("c", 4),
        ("c", 16),
        ("c", 64),
        ("d", None),
    }
    tiffin_rows = [r for r in rows if r["key"] == "c"]
    followed = [r for r in tiffin_rows if "processes" not in r["extra"]]
    assert len(followed) == 4
    assert all(r["extra"]["skipped"] == 0 for r in followed)
    assert all(r["extra"]["vs_b"] is not None for r in tiffin_rows if r["writers"] != 64)
