"""Every process's log lines are JSON objects, at the configured level."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from cli.logs import configure_logging


@pytest.fixture
def restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(captured: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in captured.splitlines()]


def test_records_are_json_lines_with_time_level_logger_and_message(
    restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    logging.getLogger("tiffin.test").info("relay lag %d events", 7)
    logging.getLogger("tiffin.test").debug("not at INFO")
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("tiffin.test").exception("a pass failed")

    [info, failed] = lines(capsys.readouterr().err)
    assert (info["level"], info["logger"], info["message"]) == (
        "info",
        "tiffin.test",
        "relay lag 7 events",
    )
    assert str(info["time"]).endswith("+00:00")
    assert failed["level"] == "error"
    assert "ValueError: broken" in str(failed["exception"])


def test_a_message_that_is_a_json_object_gives_its_fields(
    restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("WARNING")
    access = logging.getLogger("tiffin.access")
    access.info(json.dumps({"status": 200}))
    access.warning(json.dumps({"method": "GET", "status": 503, "ms": 1.5}))

    [line] = lines(capsys.readouterr().err)
    assert {k: line[k] for k in ("logger", "method", "status", "ms")} == {
        "logger": "tiffin.access",
        "method": "GET",
        "status": 503,
        "ms": 1.5,
    }
