from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from application.bootstrap import Tiffin, bootstrap
from application.settings import Settings, load_settings
from tests.postgres import fresh_database, fresh_schema

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run. No server is a failure, never a skip."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def postgres_url(database_url: str) -> Iterator[str]:
    """A URL selecting a fresh schema of its own for one test."""
    with fresh_schema(database_url) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The embedded default (SQLite files in a temporary data dir) and server mode (PostgreSQL)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return load_settings({"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_DATABASE_URL": url})
    return load_settings({"TIFFIN_DATA_DIR": str(tmp_path)})


@pytest.fixture
def tiffin(settings: Settings) -> Iterator[Tiffin]:
    with bootstrap(settings) as platform:
        yield platform
