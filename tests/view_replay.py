"""What every view should hold, replayed from the start of its logs, for the crash tests to
compare with what the workers built under fire."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from projections.key_views import KeyViews
from projections.projector import Projector
from projections.registry import HOT_VIEWS, PROJECTIONS
from tests.postgres import fresh_schema
from tests.view_digest import TableDigest, view_digest
from wiring.bootstrap import Tiffin
from wiring.workers import open_views, projector

Views = dict[str, dict[str, TableDigest]]


def caught_up(projectors: Sequence[Projector], deadline: float) -> bool:
    """Waits until every view includes the head of each of its logs (read-your-writes), or
    the deadline passes; whether they all did."""
    return all(
        view.wait_until(
            leader, leader.recorder.max_notification_id() or 0, max(0, deadline - time.monotonic())
        )
        for view in projectors
        for leader in view.leaders
    )


def replayed_views(tiffin: Tiffin, database_url: str) -> Views:
    """What each view should hold: its projection replayed from the start of its logs into a
    brand-new schema. (The one place to swap in `tiffin projections rebuild`.)"""
    with fresh_schema(database_url) as url:
        replay = {"database_url": url, "views_database_url": None, "create_tables": True}
        views = open_views(tiffin.settings.model_copy(update=replay))
        try:
            for name in PROJECTIONS:
                projector(tiffin, views, name).run_once()
            return {name: view_digest(views, p) for name, p in PROJECTIONS.items()}
        finally:
            views.close()


def hot_views(tiffin: Tiffin, prefix: str) -> dict[str, dict[str, Any]]:
    """Every key of each key-value view under this prefix, its positions included."""
    return {name: tiffin.hot_views.snapshot(f"{prefix}view:{name}:") for name in HOT_VIEWS}


def replayed_hot_views(tiffin: Tiffin, prefix: str) -> dict[str, dict[str, Any]]:
    """The key-value views replayed from the start of their logs under a new key prefix."""
    for name, projection in HOT_VIEWS.items():
        live = projector(tiffin, tiffin.views(), name)
        replay = KeyViews(tiffin.hot_views, projection, prefix)
        Projector(projection, live.leaders, replay, personal=live.personal).run_once()
    return hot_views(tiffin, prefix)
