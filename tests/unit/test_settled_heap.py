"""After ``settle_heap`` the objects the start made are out of the collector's reach, and what
the process allocates later is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cli.heap import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture
def settled() -> Iterator[None]:
    settle_heap()
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def test_a_settled_heap_still_collects_what_comes_after(settled: None) -> None:
    assert gc.get_freeze_count() > 1000  # what starting this process built
    later = Node()
    alive = weakref.ref(later)
    del later
    gc.collect()
    assert alive() is None
