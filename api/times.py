"""Times in query strings, read exactly as the OpenAPI document says: an RFC 3339 date
(``format: date``) or date-time (``format: date-time``, its offset required: API.md's times).

Every such value is taken: a time beyond what the platform can hold stands for the earliest or
latest it can (a query from year 1 means "from the beginning"), and a leap second for the last
instant of its minute. Anything else is ``None`` to the caller, which answers 422.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
DATE_OR_TIME: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}
TIME: dict[str, Any] = {"format": "date-time"}


def day_of(text: str) -> date | None:
    """``YYYY-MM-DD`` (ASCII digits), a day of the calendar."""
    found = DAY.fullmatch(text)
    if found is None:
        return None
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


def instant_of(text: str) -> datetime | None:
    """An RFC 3339 date-time, in UTC."""
    found = INSTANT.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    fraction, offset = found.group(7), found.group(8)
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60 and minute == 59:  # a leap second: the last instant of its minute
        second, micro = 59, 999_999
    zone = _zone(offset)
    if zone is None:
        return None
    try:
        local = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError:
        return None
    try:
        return local.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999
        return EARLIEST if year < 5000 else LATEST


def _zone(offset: str) -> timezone | None:
    if offset in ("Z", "z"):
        return UTC
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 23 or minutes > 59:
        return None
    span = timedelta(hours=hours, minutes=minutes)
    return timezone(-span if offset[0] == "-" else span)
