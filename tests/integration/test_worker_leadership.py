"""Each worker component runs in one process at a time; another waits as a hot standby."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.leadership import FileLeadership, PostgresLeadership
from application.runtime import Leadership


@pytest.fixture(params=["file", "postgres"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Leadership]]:
    """The leadership of two worker processes sharing one deployment."""
    leaderships: list[Leadership]
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        leaderships = [PostgresLeadership(url), PostgresLeadership(url)]
    else:
        leaderships = [FileLeadership(tmp_path / "locks"), FileLeadership(tmp_path / "locks")]
    yield leaderships
    for leadership in leaderships:
        leadership.release()


def test_a_second_worker_stands_by_until_the_owner_goes_away(
    two_workers: list[Leadership],
) -> None:
    owner, standby = two_workers

    assert owner.holds("payments")
    assert owner.holds("payments"), "the owner keeps it"
    assert not standby.holds("payments")
    assert standby.holds("outbox"), "components are owned one by one"
    assert not owner.holds("outbox")

    owner.release()  # the owner stops or dies: its locks go with it

    assert standby.holds("payments")
    assert not owner.holds("payments")
