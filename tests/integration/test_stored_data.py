"""Data written by earlier versions opens and replays with today's code.

Each folder under ``tests/stored/`` holds the event stores an earlier version wrote (with
``tests/stored/write_history.py``) and the manifest it wrote of them: the topics stored, and
the state each order, payment, delivery and courier was in. Stored topics embed module paths, so
a class that moves without its old topic registered fails here.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from application.settings import load_settings
from domain.courier import Courier
from domain.values import Role
from projections.registry import EVERY_VIEW
from tests.scenario import HOME, cause, open_kitchen, place
from tests.stored.write_history import order_state
from wiring.bootstrap import Tiffin, bootstrap

STORED = Path(__file__).parents[1] / "stored"
VERSIONS = sorted(path for path in STORED.iterdir() if (path / "manifest.json").is_file())
ALL = 10**9


@pytest.fixture(params=VERSIONS, ids=[path.name for path in VERSIONS])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Tiffin, Any]]:
    """The platform opened on a copy of a version's data directory, and that version's
    manifest of it."""
    version: Path = request.param
    shutil.copytree(version / "data", tmp_path / "data")
    environ = {"TIFFIN_DATA_DIR": str(tmp_path / "data"), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
    manifest = json.loads((version / "manifest.json").read_text())
    with bootstrap(load_settings(environ)) as tiffin:
        yield tiffin, manifest


def test_every_stored_event_decodes_to_the_class_of_its_topic(stored: tuple[Tiffin, Any]) -> None:
    tiffin, manifest = stored
    for app in tiffin.apps():
        notifications = app.recorder.select_notifications(start=1, limit=ALL)
        events = [app.mapper.to_domain_event(notification) for notification in notifications]

        assert Counter(n.topic for n in notifications) == manifest["topics"][app.name]
        assert [get_topic(type(event)) for event in events] == [n.topic for n in notifications]


def test_every_aggregate_replays_to_the_state_it_was_written_in(
    stored: tuple[Tiffin, Any],
) -> None:
    tiffin, manifest = stored
    replayed = {order_id: order_state(tiffin, UUID(order_id)) for order_id in manifest["orders"]}
    couriers = {
        courier_id: tiffin.deliveries.load(Courier, UUID(courier_id)).on_shift
        for courier_id in manifest["couriers_on_shift"]
    }

    assert replayed == manifest["orders"]
    assert couriers == manifest["couriers_on_shift"]


def test_views_rebuilt_from_stored_data_agree_with_it_and_the_saga_has_nothing_left(
    stored: tuple[Tiffin, Any],
) -> None:
    tiffin, manifest = stored
    heads = [app.recorder.max_notification_id() for app in tiffin.apps()]

    tiffin.runtime(["ordering", "payments", "deliveries", *EVERY_VIEW]).run_until_idle()
    with tiffin.views().transaction() as run:
        rows = run("SELECT order_id, status, payment_status FROM order_summary", ()).fetchall()

    assert {str(row[0]): (row[1], row[2]) for row in rows} == {
        order_id: (order["status"], order["payment_status"])
        for order_id, order in manifest["orders"].items()
    }
    assert [app.recorder.max_notification_id() for app in tiffin.apps()] == heads


def test_a_data_directory_from_before_keys_is_served_as_it_is_and_encrypted_forward(
    stored: tuple[Tiffin, Any],
) -> None:
    """The earlier versions wrote events only compressed; today's embedded default has a
    keyring, generated on opening: the old events still read, new ones are encrypted."""
    tiffin, _ = stored
    old = tiffin.ordering.recorder.select_notifications(start=1, limit=1)[0]
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    (new,) = tiffin.ordering.recorder.select_events(order.id)

    assert (tiffin.settings.data_dir / "event-cipher.keys").is_file()
    assert zlib.decompress(old.state), "the old event is as it was written: compressed only"
    assert tiffin.ordering.mapper.to_domain_event(old)
    with pytest.raises(zlib.error):
        zlib.decompress(new.state)
    assert HOME.line1.encode() not in new.state
    assert tiffin.ordering.get_order(order.id).delivery_address == HOME
