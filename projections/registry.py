"""Every projection the workers keep, by name (``tiffin worker --only NAME``)."""

from __future__ import annotations

from projections.order_summary import ORDER_SUMMARY
from projections.projector import Projection

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection for projection in (ORDER_SUMMARY,)
}
