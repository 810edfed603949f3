"""The first sharding step: a bounded context's events in a PostgreSQL database of its own,
and the views in another (a read replica's primary, a separate server). The saga runs across
them as across one, and each store's tables are where its setting says."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from application.settings import ConfigurationError, load_settings
from bench.database import scratch_database
from domain.order import OrderStatus
from tests.postgres import SERVER_URL
from tests.scenario import courier_on_shift, delivered_and_cancelled, open_kitchen
from wiring.bootstrap import bootstrap


@pytest.fixture
def databases(postgres_url: str) -> Iterator[tuple[str, str, str]]:
    """The shared database, one for Payments and Deliveries, one for the views."""
    with (
        scratch_database(SERVER_URL, prefix="tiffin_own") as own,
        scratch_database(SERVER_URL, prefix="tiffin_views") as views,
    ):
        yield postgres_url, own, views


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {row[0] for row in rows}


def test_contexts_and_views_live_in_the_databases_their_settings_name(
    databases: tuple[str, str, str], tmp_path: object
) -> None:
    shared, own, views = databases
    settings = load_settings(
        {
            "TIFFIN_DATA_DIR": str(tmp_path),
            "TIFFIN_DATABASE_URL": shared,
            "TIFFIN_PAYMENTS_DATABASE_URL": own,
            "TIFFIN_DELIVERIES_DATABASE_URL": own,
            "TIFFIN_VIEWS_DATABASE_URL": views,
            "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1",
        }
    )
    with bootstrap(settings) as tiffin:
        saga = tiffin.runtime()
        try:
            kitchen = open_kitchen(tiffin)
            _, rider = courier_on_shift(tiffin)
            delivered, cancelled = delivered_and_cancelled(tiffin, saga, kitchen, rider)
        finally:
            saga.stop()
        assert tiffin.ordering.get_order(delivered.id).status is OrderStatus.DELIVERED
        assert tiffin.ordering.get_order(cancelled.id).status is OrderStatus.CANCELLED
        with psycopg.connect(views) as connection:
            summaries = connection.execute("SELECT COUNT(*) FROM order_summary").fetchone()
        assert summaries == (2,)

    in_shared, in_own, in_views = tables(shared), tables(own), tables(views)
    assert {"restaurants_events", "ordering_events", "tiffin_work_items"} <= in_shared
    assert {"payments_events", "deliveries_events"} <= in_own
    assert not {"payments_events", "deliveries_events"} & in_shared
    assert {"order_summary", "tiffin_projection_positions"} <= in_views
    assert "order_summary" not in in_shared
    assert not in_own & {"order_summary", "tiffin_work_items", "ordering_events"}


def test_a_database_of_its_own_needs_server_mode() -> None:
    with pytest.raises(ConfigurationError, match="TIFFIN_PAYMENTS_DATABASE_URL: only in server"):
        load_settings({"TIFFIN_PAYMENTS_DATABASE_URL": "postgresql://postgres@127.0.0.1/x"})


def test_the_views_database_takes_only_postgresql_urls() -> None:
    with pytest.raises(ConfigurationError, match="TIFFIN_VIEWS_DATABASE_URL: must start with"):
        load_settings(
            {
                "TIFFIN_DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
                "TIFFIN_VIEWS_DATABASE_URL": "mysql://views",
            }
        )
