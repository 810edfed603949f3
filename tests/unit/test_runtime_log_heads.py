"""A worker pass reads each log's head once, and a component following logs reads only those
whose head moved since it last read them through."""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pytest

from application.runtime import ComponentFailed, Runtime


class Everyone:
    """Leadership that gives this process every component."""

    def holds(self, component: str) -> bool:
        return True

    def let_go(self, component: str) -> None:
        pass

    def release(self) -> None:
        pass


class Reader:
    """Follows logs; records which it was asked to read, and fails when told to."""

    def __init__(self, name: str, follows: list[str]) -> None:
        self.name = name
        self.follows = follows
        self.asked: list[list[str]] = []
        self.whole_passes = 0
        self.failing = False

    def run_logs(self, logs: Collection[str]) -> int:
        self.asked.append(sorted(logs))
        if self.failing:
            raise RuntimeError("the view's database went away")
        return 0

    def run_once(self) -> int:
        self.whole_passes += 1
        return 0


class Heads:
    def __init__(self, **heads: int) -> None:
        self.heads = dict(heads)
        self.reads = 0
        self.down = False

    def __call__(self) -> Mapping[str, int]:
        self.reads += 1
        if self.down:
            raise ConnectionError("the event store went away")
        return dict(self.heads)


def runtime(components: list[Reader], heads: Heads) -> Runtime:
    return Runtime(components, Everyone(), log_heads=heads, give_up_seconds=3600)


def test_a_component_reads_only_the_logs_that_moved_since_it_read_them_through() -> None:
    heads = Heads(ordering=5, payments=3, deliveries=0)
    views = Reader("order_summary", ["ordering", "payments", "deliveries"])
    saga = Reader("payments", ["ordering"])
    worker = runtime([views, saga], heads)

    worker.run_once()  # nothing read through yet: every log
    worker.run_once()  # no head moved: nothing is read
    heads.heads["payments"] = 4
    worker.run_once()

    assert views.asked == [["deliveries", "ordering", "payments"], ["payments"]]
    assert saga.asked == [["ordering"]]
    assert heads.reads == 3  # once per pass, however many components follow the log


def test_a_failed_read_is_read_again_on_the_next_pass() -> None:
    heads = Heads(ordering=5)
    views = Reader("order_summary", ["ordering"])
    worker = runtime([views], heads)
    views.failing = True
    with pytest.raises(ComponentFailed):
        worker.run_until_idle()

    views.failing = False
    worker.run_once()
    worker.run_once()

    assert views.asked == [["ordering"], ["ordering"]]


def test_a_log_without_a_known_head_is_always_read() -> None:
    heads = Heads(ordering=5)
    views = Reader("catalogue", ["restaurants", "ordering"])
    worker = runtime([views], heads)

    worker.run_once()
    worker.run_once()

    assert views.asked == [["ordering", "restaurants"], ["restaurants"]]


def test_while_the_heads_cannot_be_read_every_component_reads_everything() -> None:
    heads = Heads(ordering=5)
    views = Reader("order_summary", ["ordering"])
    worker = runtime([views], heads)
    worker.run_once()
    heads.down = True

    worker.run_once()
    worker.run_once()

    assert (views.asked, views.whole_passes) == ([["ordering"]], 2)
