"""Every projection the workers keep, by name (``tiffin worker --only NAME``).

SQL views: in the views database (PostgreSQL in server mode, SQLite on the embedded default)."""

from __future__ import annotations

from projections.cancellation_funnel import CANCELLATION_FUNNEL
from projections.catalogue import CATALOGUE
from projections.courier_performance import COURIER_PERFORMANCE
from projections.daily_sales import DAILY_SALES
from projections.order_history import ORDER_HISTORY
from projections.order_summary import ORDER_SUMMARY
from projections.order_tracking import ORDER_TRACKING
from projections.projector import Projection
from projections.restaurant_queue import RESTAURANT_QUEUE

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection
    for projection in (
        ORDER_SUMMARY,
        CATALOGUE,
        DAILY_SALES,
        COURIER_PERFORMANCE,
        CANCELLATION_FUNNEL,
        ORDER_HISTORY,
    )
}

# Key-value views: in Redis when configured, else in the process that runs their workers.
HOT_VIEWS: dict[str, Projection] = {
    projection.name: projection for projection in (ORDER_TRACKING, RESTAURANT_QUEUE)
}
EVERY_VIEW: dict[str, Projection] = {**PROJECTIONS, **HOT_VIEWS}
