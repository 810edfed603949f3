"""The PL/pgSQL function that writes one group-commit batch (see adapters/group_commit.py)."""

from __future__ import annotations

from psycopg.sql import SQL, Composed, Identifier


def create_insert_batch_function(
    *,
    schema: Identifier,
    function: Identifier,
    table: Identifier,
    channel: Identifier,
    id_type: SQL,
    lock_timeout: int,
    lock_table: bool,
) -> Composed:
    """A function that writes a batch of saves in the transaction of the statement calling it.

    It returns the notification ids of the saves written, ascending (so in batch order), and
    ``-1 - n`` for each save ``n`` that was not written because one of its (aggregate, version)
    pairs was stored already. Such a save's other rows are deleted before the commit: under the
    table lock nobody else can see them, so no save is ever half-written.
    """
    lock = SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE;").format(schema, table)
    return SQL(
        "CREATE OR REPLACE FUNCTION {schema}.{function}("
        "ids {id_type}[], versions bigint[], topics text[], states bytea[], saves int[]) "
        "RETURNS TABLE (n bigint) LANGUAGE plpgsql AS $BODY$ "
        "DECLARE inserted bigint[]; clashed int[]; "
        "BEGIN "
        "SET LOCAL lock_timeout = '{lock_timeout}s'; "
        "{lock} "
        "NOTIFY {channel}; "
        "WITH written AS ("
        "  INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
        "  SELECT b.id, b.version, b.topic, b.state"
        "  FROM unnest(ids, versions, topics, states) WITH ORDINALITY"
        "  AS b(id, version, topic, state, position) ORDER BY b.position"
        "  ON CONFLICT DO NOTHING RETURNING {table}.notification_id) "
        "SELECT array_agg(w.notification_id ORDER BY w.notification_id) INTO inserted "
        "FROM written w; "
        "IF coalesce(cardinality(inserted), 0) = cardinality(ids) THEN "
        "  RETURN QUERY SELECT unnest(inserted); RETURN; "
        "END IF; "
        "SELECT array_agg(DISTINCT b.save) INTO clashed "
        "FROM unnest(ids, versions, saves) AS b(id, version, save) "
        "JOIN {schema}.{table} t ON t.originator_id = b.id AND t.originator_version = b.version "
        "WHERE NOT t.notification_id = ANY(coalesce(inserted, '{{}}')); "
        "DELETE FROM {schema}.{table} t USING unnest(ids, versions, saves) AS b(id, version, save) "
        "WHERE t.originator_id = b.id AND t.originator_version = b.version "
        "AND b.save = ANY(clashed) AND t.notification_id = ANY(coalesce(inserted, '{{}}')); "
        "RETURN QUERY SELECT t.notification_id FROM {schema}.{table} t "
        "WHERE t.notification_id = ANY(coalesce(inserted, '{{}}')) ORDER BY t.notification_id; "
        "RETURN QUERY SELECT -1 - c::bigint FROM unnest(clashed) AS c; "
        "END; $BODY$"
    ).format(
        schema=schema,
        function=function,
        table=table,
        channel=channel,
        id_type=id_type,
        lock_timeout=lock_timeout,
        lock=lock if lock_table else SQL(""),
    )
