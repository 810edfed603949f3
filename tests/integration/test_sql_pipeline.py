"""PostgreSQL transactions send their statements pipelined: results still read as before, and
a failing statement still fails (and rolls back) its whole transaction."""

from __future__ import annotations

import psycopg
import pytest

from adapters.sql import PostgresDatabase


def test_results_read_in_a_transaction_and_writes_without_a_read_all_land(
    postgres_url: str,
) -> None:
    database = PostgresDatabase(postgres_url)
    with database.transaction() as run:
        run("CREATE TABLE piped (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)", ())
        for number in range(100):
            run("INSERT INTO piped (id, n) VALUES (?, ?)", (number, number))
        assert run("UPDATE piped SET n = n + 1 WHERE id < ?", (10,)).rowcount == 10
        assert [tuple(row) for row in run("SELECT n FROM piped WHERE id = ?", (3,))] == [(4,)]
        cursor = run("SELECT count(*), sum(n) FROM piped", ())
        assert cursor.description[0].name == "count"
        assert cursor.fetchone() == (100, 4960)
    database.close()


def test_a_failing_statement_rolls_back_its_transaction_though_nothing_read_it(
    postgres_url: str,
) -> None:
    database = PostgresDatabase(postgres_url)
    with database.transaction() as run:
        run("CREATE TABLE piped (id INTEGER PRIMARY KEY)", ())

    def insert_twice() -> None:
        with database.transaction() as run:
            run("INSERT INTO piped (id) VALUES (?)", (1,))
            run("INSERT INTO piped (id) VALUES (?)", (1,))
            run("INSERT INTO piped (id) VALUES (?)", (2,))

    with pytest.raises(psycopg.errors.UniqueViolation):
        insert_twice()

    with database.transaction() as run:
        assert run("SELECT count(*) FROM piped", ()).fetchone() == (0,)
        run("INSERT INTO piped (id) VALUES (?)", (1,))  # the connection is usable again
    with database.transaction() as run:
        assert run("SELECT count(*) FROM piped", ()).fetchone() == (1,)
    database.close()
