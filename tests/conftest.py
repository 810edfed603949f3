from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from application.runtime import Runtime
from application.settings import Settings, load_settings
from tests.fakes.upi_gateway import FakeGateway, running
from tests.postgres import fresh_database, fresh_schema
from tests.scenario import ManualClock
from wiring.bootstrap import Tiffin, bootstrap

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
    environ = {"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
    if request.param == "postgres":
        environ["TIFFIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return load_settings(environ)


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    """A UPI gateway stand-in: a real HTTP server on 127.0.0.1 recording every call."""
    with running(FakeGateway()) as fake:
        yield fake


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def tiffin(settings: Settings, clock: ManualClock) -> Iterator[Tiffin]:
    """The platform; its simulated gateway only pays when a test sends it a webhook."""
    with bootstrap(settings, clock=clock) as platform:
        yield platform


@pytest.fixture
def saga(tiffin: Tiffin) -> Iterator[Runtime]:
    """Every saga worker of the platform, run in the test's thread by ``run_until_idle()``."""
    runtime = tiffin.runtime()
    yield runtime
    runtime.stop()
