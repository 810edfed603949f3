"""A progress bar for long CLI work, on stderr: redrawn in place on a terminal, else a line
now and then (so logs of a non-interactive run still show it moving)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.every = 0.1 if self.interactive else 2.0
        self.started = time.monotonic()
        self._shown_at = 0.0
        self._last = ""

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._shown_at < self.every:
            return
        self._shown_at = now
        self._show(self._line(done, total, now))

    def finish(self, done: int, total: int) -> None:
        self._show(self._line(done, total, time.monotonic()))
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, done: int, total: int, now: float) -> str:
        share = done / total if total else 1.0
        filled = round(share * WIDTH)
        rate = done / max(now - self.started, 1e-9)
        return (
            f"{self.label} [{'#' * filled}{'-' * (WIDTH - filled)}] {share:4.0%}"
            f" {done:,}/{total:,} {self.unit} ({rate:,.0f}/s)"
        )

    def _show(self, line: str) -> None:
        if line == self._last:
            return
        self._last = line
        self.stream.write(f"\r{line}" if self.interactive else f"{line}\n")
        self.stream.flush()
