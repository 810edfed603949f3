"""``tiffin migrate``: creates and upgrades every table, then says which version it is at."""

from __future__ import annotations

import argparse
from typing import Any

from application.settings import load_settings
from cli.logs import configure_logging
from wiring.bootstrap import bootstrap
from wiring.migrate import SCHEMA_VERSION


def run_migrate(_: argparse.Namespace) -> int:
    settings = load_settings().model_copy(update={"create_tables": True})
    configure_logging(settings.log_level)
    where = "PostgreSQL" if settings.database_url else f"SQLite files in {settings.data_dir}"
    print(f"tiffin migrate: {where}, to schema version {SCHEMA_VERSION}", flush=True)
    with bootstrap(settings, say=lambda step: print(f"  {step}", flush=True)) as tiffin:
        done = tiffin.migrated
    assert done is not None  # bootstrap migrates when it creates tables
    if done.before == done.after:
        print(f"tiffin migrate: already at version {done.after}; nothing to do")
    else:
        print(f"tiffin migrate: from version {done.before} to {done.after}")
    return 0


def add_commands(commands: Any) -> None:
    migrating = commands.add_parser(
        "migrate",
        help="create and upgrade every table (before servers with TIFFIN_CREATE_TABLES=false)",
        description="Creates every missing table of every store and applies the upgrades this "
        "release has, under a lock: idempotent, and safe to run from several places at once. "
        "Servers and workers started with TIFFIN_CREATE_TABLES=false create nothing: /readyz "
        "reports the schema as behind, and workers wait, until this has run.",
    )
    migrating.set_defaults(run=run_migrate)
