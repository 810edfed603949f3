"""What the commands print: tables on stdout and progress bars on stderr, drawn by rich.

On a terminal the bar redraws in place; when stderr is a file or a pipe (CI, logs) rich prints
the bar's final state once, so a log shows how far the work got.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

WIDE = 1_000  # not a terminal: never wrap a row (tests and scripts split rows on spaces)


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(
        file=stream, width=None if stream.isatty() else WIDE, highlight=False, soft_wrap=False
    )


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[str] = ()
) -> None:
    """A table with a header row and no rules, one line per row; ``right`` aligns numbers."""
    numeric = set(right)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, justify="right" if header in numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console().print(table)


class Advance(Protocol):
    def __call__(self, done: int, total: int) -> None: ...


@contextmanager
def progress_bar(label: str, unit: str) -> Iterator[Advance]:
    """A bar on stderr; call what it yields with (done, total) as the work goes."""
    columns = (
        TextColumn(label),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
