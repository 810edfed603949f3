"""``tiffin migrate``: every table of every store created, and upgraded step by step to this
release's schema version, under a lock, idempotently (part of the composition root).

With ``TIFFIN_CREATE_TABLES`` on (the default) every process does this when it starts; with it
off, only ``tiffin migrate`` does, and servers and workers wait for it: ``/readyz`` reports the
schema as behind, and ``tiffin worker`` waits before it runs anything.

A release that changes a table adds an ``Upgrade`` with the next version: its ``run`` takes
the stores from the previous version to this one (``ALTER TABLE …``, a backfill). A database
that is ahead (a newer release migrated it, and this one was rolled back) is left as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.schema_version import NoSchema, record_version, stored_version
from adapters.sql import add_column, create_tables
from api.dependencies import ProbeFailed
from api.idempotency import CLAIMED_AT
from api.idempotency import DDL as IDEMPOTENCY_DDL
from api.idempotency import TABLE as IDEMPOTENCY_TABLE
from wiring.workers import views_database

if TYPE_CHECKING:
    from wiring.bootstrap import Tiffin


@dataclass(frozen=True)
class Upgrade:
    version: int
    what: str
    run: Callable[[Tiffin], None]


def _nothing_more(_: Tiffin) -> None:
    """Creating the tables was all there was to it."""


def _claims_expire(tiffin: Tiffin) -> None:
    """Stored answers' claims get the time they were made, so a retry can take over the claim
    of a process that died running it."""
    answers = views_database(tiffin.settings)
    try:
        add_column(answers, IDEMPOTENCY_TABLE, CLAIMED_AT, "DOUBLE PRECISION")
    finally:
        answers.close()


UPGRADES = (
    Upgrade(1, "every table of the first versioned release", _nothing_more),
    Upgrade(2, "idempotency claims expire (tiffin_api_idempotency.claimed_at)", _claims_expire),
)
SCHEMA_VERSION = UPGRADES[-1].version


@dataclass(frozen=True)
class Migrated:
    before: int  # 0: a database no release had versioned
    after: int
    steps: tuple[str, ...]


def create_every_table(tiffin: Tiffin) -> None:
    """Each store's tables (the applications' event tables are made as they are built)."""
    tiffin.work_store()
    tiffin.health_board()
    tiffin.devices()
    if tiffin.settings.payment_gateway == "simulated":
        tiffin.gateway()  # the simulated gateway keeps its payments in a table of its own
    tiffin.views()
    answers = views_database(tiffin.settings)  # the API's stored answers live beside the views
    try:
        create_tables(answers, [IDEMPOTENCY_DDL], "tiffin-api-ddl")
    finally:
        answers.close()


def current_version(tiffin: Tiffin) -> int:
    """The version the schema was migrated to (0: never)."""
    try:
        return stored_version(tiffin.work_store().database)
    except NoSchema:
        return 0


def migrate(tiffin: Tiffin, say: Callable[[str], None] = lambda _: None) -> Migrated:
    """Brings the schema to ``SCHEMA_VERSION``: the caller holds ``migration_lock`` and has
    built the platform to create tables (``bootstrap`` does both)."""
    say("creating missing tables")
    create_every_table(tiffin)
    before = current_version(tiffin)
    steps = []
    for upgrade in UPGRADES:
        if upgrade.version > before:
            say(f"upgrading to version {upgrade.version}: {upgrade.what}")
            upgrade.run(tiffin)
            record_version(tiffin.work_store().database, upgrade.version, time.time())
            steps.append(upgrade.what)
    return Migrated(before, max(before, SCHEMA_VERSION), tuple(steps))


def schema_report(tiffin: Tiffin) -> str:
    """What ``/readyz`` says of the schema; raises SchemaBehind when it must be migrated."""
    version = current_version(tiffin)
    if version < SCHEMA_VERSION:
        found = "no schema" if version == 0 else f"version {version}"
        raise SchemaBehind(
            f"behind: {found}, this release needs version {SCHEMA_VERSION}: run tiffin migrate"
        )
    if version > SCHEMA_VERSION:
        return f"version {version}, ahead of this release's {SCHEMA_VERSION}"
    return f"version {version}"


def wait_until_migrated(
    tiffin: Tiffin, stopped: threading.Event, say: Callable[[str], None], every: float = 2.0
) -> bool:
    """Waits (saying why, once) until the schema is this release's; False if stopped first."""
    said = False
    while not stopped.is_set():
        try:
            schema_report(tiffin)
            return True
        except SchemaBehind as behind:
            if not said:
                say(f"waiting for `tiffin migrate`: the schema is {behind}")
                said = True
        stopped.wait(every)
    return False


class SchemaBehind(ProbeFailed):
    """The schema is older than this release needs."""
