"""The installed ``tiffin`` command, run as a user would run it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from application.settings import load_settings
from domain.payment import payment_id_for
from domain.values import Role
from tests.scenario import DELIVERED_ORDER_EVENTS, cause, open_kitchen, place
from wiring.bootstrap import bootstrap

TIFFIN = shutil.which("tiffin", path=str(Path(sys.executable).parent)) or shutil.which("tiffin")


def run_tiffin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert TIFFIN is not None, "the tiffin console script is not installed"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIFFIN_")}
    return subprocess.run(
        [TIFFIN, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(params=["sqlite", "postgres"])
def environ(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"TIFFIN_DATA_DIR": str(tmp_path / "var")}
    if request.param == "postgres":
        env["TIFFIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return env


def test_demo_delivers_an_order_and_prints_its_history(environ: dict[str, str]) -> None:
    result = run_tiffin("demo", env=environ)

    assert result.returncode == 0, result.stderr
    order_rows = re.findall(r"^\S+ \S+\s+order\s+(\d+)\s+(\w+)\s+(\w+):", result.stdout, re.M)
    assert [(int(v), name) for v, name, _ in order_rows] == list(
        enumerate(DELIVERED_ORDER_EVENTS, 1)
    )
    # The saga records what follows from others' acts (paid, assigned, picked up, delivered).
    assert {role for _, _, role in order_rows} == {"customer", "system", "restaurant"}
    assert re.search(r"^\S+ \S+\s+payment\s+2\s+Captured\s+system:upi-gateway", result.stdout, re.M)
    assert re.search(r"^\S+ \S+\s+delivery\s+4\s+Delivered\s+courier:", result.stdout, re.M)
    assert re.search(r"^delivery\s+\S+: courier \S+ assigned by the saga$", result.stdout, re.M)


def test_demo_on_the_embedded_default_keeps_its_events_in_the_data_directory(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"

    result = run_tiffin("demo", env={"TIFFIN_DATA_DIR": str(data_dir)})

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in data_dir.glob("*.sqlite3")) == [
        "deliveries.sqlite3",
        "ordering.sqlite3",
        "payments.sqlite3",
        "restaurants.sqlite3",
        "views.sqlite3",
        "work.sqlite3",
    ]


def test_a_bad_setting_stops_the_command_with_the_variable_named(tmp_path: Path) -> None:
    result = run_tiffin("demo", env={"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_PORT": "http"})

    assert result.returncode == 2
    assert "TIFFIN_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_tiffin("--help", env={})

    assert result.returncode == 0
    assert "demo" in result.stdout


def test_parked_gateway_calls_are_listed_and_put_back_in_line(tmp_path: Path) -> None:
    env = {
        "TIFFIN_DATA_DIR": str(tmp_path),
        "TIFFIN_PAYMENT_GATEWAY": "http",
        "TIFFIN_PAYMENT_GATEWAY_URL": "http://127.0.0.1:9",  # nothing listens there
        "TIFFIN_OUTBOX_MAX_ATTEMPTS": "1",
    }
    with bootstrap(load_settings(env)) as tiffin:
        order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        tiffin.runtime().run_until_idle()
    key = f"collect:{payment_id_for(order.id)}"

    listed = run_tiffin("work", "list", "--parked", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if key in line]
    assert row.split()[:4] == ["outbox", key, "parked", "1"]
    assert "GatewayUnavailable: gateway unreachable" in row
    assert listed.stdout.rstrip().endswith("1 item(s)")

    retried = run_tiffin("work", "retry", "outbox", key, env=env)
    assert retried.returncode == 0, retried.stderr
    assert "back in line" in retried.stdout
    again = run_tiffin("work", "retry", "outbox", key, env=env)
    assert again.returncode == 1
    assert run_tiffin("work", "list", "--parked", env=env).stdout.rstrip().endswith("0 item(s)")


def test_projection_status_shows_each_logs_position_head_and_lag(tmp_path: Path) -> None:
    env = {"TIFFIN_DATA_DIR": str(tmp_path), "TIFFIN_SIMULATED_CAPTURE_SECONDS": "-1"}
    with bootstrap(load_settings(env)) as tiffin:
        place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
        tiffin.runtime(["payments"]).run_until_idle()  # the order summary has not run yet

    before = run_tiffin("projections", "status", env=env)
    with bootstrap(load_settings(env)) as tiffin:
        tiffin.runtime(["order_summary"]).run_until_idle()
    after = run_tiffin("projections", "status", env=env)

    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    rows = status_rows(before.stdout)
    assert rows["order_summary", "Ordering"][:3] == ["0", "1", "1"]  # position, head, behind
    assert rows["order_summary", "Payments"][:3] == ["0", "1", "1"]
    assert float(rows["order_summary", "Ordering"][3]) >= 0
    rows = status_rows(after.stdout)
    assert rows["order_summary", "Ordering"] == ["1", "1", "0", "0.0", "0"]
    assert rows["order_summary", "Payments"] == ["1", "1", "0", "0.0", "0"]


def status_rows(output: str) -> dict[tuple[str, str], list[str]]:
    """``tiffin projections status`` rows by (projection, log)."""
    rows = [line.split() for line in output.splitlines()[1:] if not line.startswith(" ")]
    return {(row[0], row[1]): row[2:] for row in rows}


def test_a_view_is_rebuilt_with_a_progress_bar_and_switched_to(environ: dict[str, str]) -> None:
    assert run_tiffin("demo", env=environ).returncode == 0
    with bootstrap(load_settings(environ)) as tiffin:
        tiffin.runtime(["order_summary"]).run_until_idle()  # the demo may stop a step short
        before = summary_rows(tiffin)

    rebuilt = run_tiffin("projections", "rebuild", "order_summary", env=environ)
    metrics = run_tiffin("projections", "metrics", env=environ)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert re.search(r"^rebuilt order_summary: \d+ events in .* 0 parked", rebuilt.stdout, re.M)
    assert re.search(r"rebuilding order_summary .*━+.* 100%", rebuilt.stderr)
    with bootstrap(load_settings(environ)) as tiffin:
        assert summary_rows(tiffin) == before
        ordering_head = tiffin.ordering.recorder.max_notification_id()
    assert len(before) == 1
    assert metrics.returncode == 0, metrics.stderr
    assert (
        f'tiffin_projection_position{{log="Ordering",projection="order_summary"}} {ordering_head}.0'
        in metrics.stdout.splitlines()
    )
    assert (
        'tiffin_projection_lag_events{log="Payments",projection="catalogue"}' not in metrics.stdout
    )


def test_a_key_value_view_kept_in_process_is_not_rebuilt_from_outside(tmp_path: Path) -> None:
    result = run_tiffin(
        "projections", "rebuild", "order_tracking", env={"TIFFIN_DATA_DIR": str(tmp_path)}
    )

    assert result.returncode == 2
    assert "kept in-process on the embedded default" in result.stderr


def summary_rows(tiffin: Any) -> list[tuple[Any, ...]]:
    with tiffin.views().transaction() as run:
        return [tuple(row) for row in run("SELECT * FROM order_summary ORDER BY order_id", ())]


def test_work_health_shows_each_reporting_workers_components_and_breakers(tmp_path: Path) -> None:
    env = {"TIFFIN_DATA_DIR": str(tmp_path)}
    with bootstrap(load_settings(env)) as tiffin:
        runtime = tiffin.runtime(["payments", "outbox"])
        runtime.run_once()  # reports what it holds
        worker = runtime.worker
        runtime.leadership.release()

    shown = run_tiffin("work", "health", env=env)

    assert shown.returncode == 0, shown.stderr
    rows = {tuple(line.split()[:3]) for line in shown.stdout.splitlines()[1:]}
    assert ("outbox", worker, "running") in rows
    assert ("payments", worker, "running") in rows
    assert "\n1 worker(s) reporting\n" in shown.stdout
    assert ("upi_gateway", worker, "closed") in rows, "the outbox's circuit breaker"
