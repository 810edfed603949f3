"""``tiffin migrate``: every table created and upgraded under a lock, once, idempotently; a
platform started with ``TIFFIN_CREATE_TABLES=false`` creates nothing, and says the schema is
behind until it has run."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from application.settings import Settings
from cli.main import main
from domain.values import Role
from tests.scenario import cause, open_kitchen, place
from wiring import migrate as migrations
from wiring.bootstrap import bootstrap
from wiring.migrate import SCHEMA_VERSION, SchemaBehind, Upgrade, schema_report
from wiring.workers import views_database


def tables(settings: Settings) -> set[str]:
    """The tables the platform's databases hold."""
    if settings.database_url is not None:
        with psycopg.connect(settings.database_url) as connection:
            rows = connection.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            ).fetchall()
        return {row[0] for row in rows}
    found: set[str] = set()
    for path in settings.data_dir.glob("*.sqlite3"):
        with sqlite3.connect(path) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            found |= {f"{path.stem}.{row[0]}" for row in rows}
    return found


def environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIFFIN_DATA_DIR", str(settings.data_dir))
    if settings.database_url is not None:
        monkeypatch.setenv("TIFFIN_DATABASE_URL", settings.database_url)


def test_without_table_creation_nothing_is_created_and_the_schema_is_behind(
    settings: Settings,
) -> None:
    hands_off = settings.model_copy(update={"create_tables": False})
    with bootstrap(hands_off) as tiffin:
        with pytest.raises(SchemaBehind, match=r"behind: no schema.*run tiffin migrate"):
            schema_report(tiffin)
        tiffin.work_store()
        tiffin.views()
    assert not {t for t in tables(settings) if not t.startswith("tiffin_leader")}, "no DDL"


def test_migrate_creates_every_table_once_and_then_has_nothing_to_do(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(settings, monkeypatch)

    assert main(["migrate"]) == 0
    first = capsys.readouterr().out
    assert main(["migrate"]) == 0
    second = capsys.readouterr().out

    assert f"from version 0 to {SCHEMA_VERSION}" in first
    assert f"already at version {SCHEMA_VERSION}; nothing to do" in second
    created = tables(settings)
    for table in ("tiffin_work_items", "tiffin_devices", "tiffin_schema_version"):
        assert any(name.endswith(table) for name in created), table
    assert created & {"ordering_events", "ordering.stored_events"}, "the event tables too"
    hands_off = settings.model_copy(update={"create_tables": False})
    with bootstrap(hands_off) as tiffin:
        assert schema_report(tiffin) == f"version {SCHEMA_VERSION}"
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        assert tiffin.ordering.get_order(order.id).total.minor == 31550


def test_a_release_with_an_upgrade_runs_only_the_steps_the_database_lacks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(settings, monkeypatch)
    assert main(["migrate"]) == 0
    ran: list[int] = []
    later = Upgrade(SCHEMA_VERSION + 1, "a column for a feature", lambda _: ran.append(1))
    monkeypatch.setattr(migrations, "UPGRADES", (*migrations.UPGRADES, later))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", later.version)
    hands_off = settings.model_copy(update={"create_tables": False})
    behind = f"version {SCHEMA_VERSION}, this"
    with bootstrap(hands_off) as tiffin, pytest.raises(SchemaBehind, match=behind):
        schema_report(tiffin)
    capsys.readouterr()

    assert main(["migrate"]) == 0

    out = capsys.readouterr().out
    assert ran == [1]
    assert f"upgrading to version {later.version}: a column for a feature" in out
    assert f"from version {SCHEMA_VERSION} to {later.version}" in out
    with bootstrap(hands_off) as tiffin:
        assert schema_report(tiffin) == f"version {later.version}"


def test_a_database_ahead_of_this_release_is_left_as_it_is(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment(settings, monkeypatch)
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(
        migrations,
        "UPGRADES",
        (*migrations.UPGRADES, Upgrade(SCHEMA_VERSION + 1, "newer", lambda _: None)),
    )
    assert main(["migrate"]) == 0
    monkeypatch.undo()  # this release again: the database is a version ahead (a rollback)

    with bootstrap(settings) as tiffin:
        assert tiffin.migrated is not None
        assert tiffin.migrated.steps == ()
        ahead = f"version {SCHEMA_VERSION + 1}, ahead of this release's {SCHEMA_VERSION}"
        assert schema_report(tiffin) == ahead


OLD_IDEMPOTENCY_TABLE = (  # as schema version 1 made it
    "CREATE TABLE tiffin_api_idempotency (subject TEXT NOT NULL, route TEXT NOT NULL,"
    " idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER,"
    " body TEXT, PRIMARY KEY (subject, route, idempotency_key))"
)


def test_version_2_gives_an_old_idempotency_table_its_claim_times(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment(settings, monkeypatch)
    answers = views_database(settings)
    with answers.transaction() as run:
        run(OLD_IDEMPOTENCY_TABLE, ())
        run(
            "INSERT INTO tiffin_api_idempotency VALUES (?, ?, ?, ?, ?, ?)",
            ("someone", "POST /v1/restaurants", "k1", "f", 201, "{}"),
        )
    answers.close()
    monkeypatch.setattr(migrations, "UPGRADES", migrations.UPGRADES[:1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", 1)
    assert main(["migrate"]) == 0  # what the release before did
    monkeypatch.undo()
    environment(settings, monkeypatch)
    capsys.readouterr()

    assert main(["migrate"]) == 0

    assert "upgrading to version 2: idempotency claims expire" in capsys.readouterr().out
    answers = views_database(settings)
    try:
        with answers.transaction() as run:
            rows = run("SELECT idempotency_key, status, claimed_at FROM tiffin_api_idempotency", ())
            assert [tuple(row) for row in rows] == [("k1", 201, None)], "the answer kept"
    finally:
        answers.close()
