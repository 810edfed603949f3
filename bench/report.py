"""The benchmark table, and its JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.suite import Row


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    lines = [
        f"{'row':<4}{'path':<30}{'writers':>8}{'rate':>12} {'unit':<9}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'vs (a)':>8}{'vs (b)':>8}  notes",
    ]
    for r in rows:
        notes = ", ".join(f"{k}={v}" for k, v in r.extra.items() if not k.startswith("vs_"))
        lines.append(
            f"{r.key:<4}{r.label:<30}{_num(r.writers):>8}{_num(r.per_second):>12} {r.unit:<9}"
            f"{_num(r.p50_ms, 2):>8}{_num(r.p99_ms, 2):>8}"
            f"{_num(r.extra.get('vs_a'), 2):>8}{_num(r.extra.get('vs_b'), 2):>8}  {notes}"
        )
    return "\n".join(lines)


def write_json(rows: list[Row], path: Path, settings: dict[str, object]) -> None:
    path.write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=2))
