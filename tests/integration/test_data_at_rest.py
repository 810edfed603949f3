"""The data directory is the platform's alone: directories 0700, database files and secrets
0600, also those an older release left readable; and nothing in it reads as a person's data,
as stored or decompressed."""

from __future__ import annotations

import sqlite3
import stat
import zlib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from uuid import uuid4

from application.settings import load_settings
from domain.values import Role
from projections.analytics import ORDER_CSV_COLUMNS, Analytics
from projections.order_lists import orders_page
from projections.personal import lookups
from tests.scenario import HOME, cause, open_kitchen, place
from wiring.bootstrap import bootstrap


def modes(data_dir: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(data_dir.stat().st_mode))}
    for path in sorted(data_dir.rglob("*")):
        if (
            path.is_dir()
            or path.suffix in (".sqlite3", ".secret", ".lock")
            or path.name.endswith(("-wal", "-shm"))
        ):
            found[str(path.relative_to(data_dir))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def test_every_database_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "views.sqlite3").touch(mode=0o644)  # as an older release left it
    (data_dir / "views.sqlite3").chmod(0o644)
    settings = load_settings({"TIFFIN_DATA_DIR": str(data_dir)})

    with bootstrap(settings) as tiffin:
        place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        runtime = tiffin.runtime()
        runtime.run_until_idle()
        runtime.stop()
        found = modes(data_dir)  # while open: the WAL files are there

    print(f"\ndata directory modes: {found}")
    databases = [name for name in found if ".sqlite3" in name]
    assert {"ordering.sqlite3", "views.sqlite3", "work.sqlite3"} <= set(databases)
    assert any(name.endswith("-wal") for name in databases)
    directories = {name: mode for name, mode in found.items() if (data_dir / name).is_dir()}
    files = {name: mode for name, mode in found.items() if name not in directories}
    assert set(directories.values()) == {"0o700"}, directories
    assert set(files.values()) == {"0o600"}, files


MARKERS = {
    "address": "ZQXADDRESSMARKER",
    "customer": "zqx-customer-marker",
    "reason": "ZQXREASONMARKER",
}


def found_markers(data_dir: Path, markers: dict[str, str]) -> dict[str, list[str]]:
    """Where each marker appears in the data directory: in any file's bytes as they are, and
    in any database value once zlib-decompressed (how events were stored before keys)."""
    found: dict[str, list[str]] = {name: [] for name in markers}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        for name, marker in markers.items():
            if marker.encode() in raw:
                found[name].append(f"{path.name} (as stored)")
        if path.suffix == ".sqlite3":
            for table, value in _database_values(path):
                for name, marker in markers.items():
                    if marker.encode() in _decompressed(value):
                        found[name].append(f"{path.name}:{table} (decompressed)")
    return found


def _database_values(path: Path) -> Iterator[tuple[str, bytes]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
        tables = database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table,) in tables.fetchall():
            for row in database.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, str | bytes):
                        yield table, value.encode() if isinstance(value, str) else value


def _decompressed(value: bytes) -> bytes:
    try:
        return zlib.decompress(value)
    except zlib.error:
        return b""


def test_no_address_customer_id_or_free_text_is_readable_at_rest(tmp_path: Path) -> None:
    """The embedded default: events encrypted, views keep pseudonyms and sealed text, and
    still answer a customer's list and an analyst's export."""
    settings = load_settings({"TIFFIN_DATA_DIR": str(tmp_path / "data")})
    customer = cause(Role.CUSTOMER, f"{MARKERS['customer']}-{uuid4().hex[:6]}")
    home = replace(HOME, line1=f"{MARKERS['address']} 48 Residency Road")
    reason = f"{MARKERS['reason']}: ordered twice"

    with bootstrap(settings) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), customer, address=home)
        tiffin.ordering.cancel_order(order.id, reason, customer)
        runtime = tiffin.runtime()
        runtime.run_until_idle()
        runtime.stop()
        views = tiffin.views()
        mine = lookups(tiffin.personal, customer.actor_id)
        listed = orders_page(views, limit=10, customer_ids=mine).rows
        exported = list(Analytics(views, tiffin.personal).order_rows())
        found = found_markers(settings.data_dir, MARKERS)

    print(f"\nmarkers found in the data directory (raw, and decompressed): {found}")
    assert found == {name: [] for name in MARKERS}
    assert [row.order_id for row in listed] == [str(order.id)]
    assert listed[0].customer_id == tiffin.personal.pseudonym(customer.actor_id)
    assert listed[0].customer_id != customer.actor_id
    assert [row[ORDER_CSV_COLUMNS.index("closing_reason")] for row in exported] == [reason]
