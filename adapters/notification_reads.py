"""Reading a log's notifications from PostgreSQL with less per-row work than eventsourcing's.

Every projector, the saga and the Kafka relay read the logs through ``select_notifications``:
the library's builds a dict per row (``SELECT *`` with dict rows), copies the state and runs
the frozen dataclass's ``__init__`` (an ``object.__setattr__`` per field). This reads the five
columns as tuples and fills each ``Notification``'s fields directly: the same notifications,
the same query plan (the same WHERE and ORDER BY on the same index), at about half the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

COLUMNS = SQL("notification_id, originator_id, originator_version, topic, state")


class TupleNotificationReads:
    """Mixed into a PostgreSQL application recorder (``datastore``, ``events_table_name``)."""

    datastore: Any
    events_table_name: str

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        statement, params = self._notifications_query(
            start, limit, stop, topics, inclusive_of_start
        )
        with (
            self.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(statement, params, prepare=True, binary=True)
            return [_notification(*row) for row in cursor.fetchall()]

    def _notifications_query(
        self,
        start: int | None,
        limit: int,
        stop: int | None,
        topics: Sequence[str],
        inclusive_of_start: bool,
    ) -> tuple[Composed, list[Any]]:
        conditions: list[SQL] = []
        params: list[Any] = []
        if start is not None:
            conditions.append(
                SQL("notification_id>=%s" if inclusive_of_start else "notification_id>%s")
            )
            params.append(start)
        if stop is not None:
            conditions.append(SQL("notification_id <= %s"))
            params.append(stop)
        if topics:
            conditions.append(SQL("topic = ANY(%s)"))
            params.append(list(topics))
        where = SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")
        params.append(limit)
        statement = SQL("SELECT {} FROM {}.{}{} ORDER BY notification_id LIMIT %s").format(
            COLUMNS, Identifier(self.datastore.schema), Identifier(self.events_table_name), where
        )
        return statement, params


_new = object.__new__
_set = object.__setattr__


def _notification(
    notification_id: int, originator_id: Any, version: int, topic: str, state: Any
) -> Notification:
    notification: Notification = _new(Notification)
    _set(
        notification,
        "__dict__",
        {
            "originator_id": originator_id,
            "originator_version": version,
            "topic": topic,
            "state": state if type(state) is bytes else bytes(state),
            "id": notification_id,
        },
    )
    return notification
