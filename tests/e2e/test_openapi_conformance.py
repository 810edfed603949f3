"""The OpenAPI document describes the API as it behaves: schemathesis, with every check, in
every phase (examples, coverage, fuzzing and the stateful phase), against a live `tiffin serve`,
once for each role, ends with 0 failures.

The server is seeded first with a restaurant and its menu, a courier on shift, an open order
and a cancelled one, owned by the subjects whose tokens the runs use, so that the generated
requests reach those resources half of the time (a schemathesis dictionary) and the other half
draw ids of their own (404s). Settings tuned in tests/schemathesis/schemathesis.toml say why.
Checks turned off: none. Bounded: 10 examples per operation and phase, about 2,000 requests
and 15 s for each role on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from domain.delivery import delivery_id_for
from domain.values import Role
from tests.api_builders import item_body, order_body, restaurant_body, somewhere
from tests.api_process import REPO_ROOT, ApiServer, api_server, process_environ, server_environ

CONFIG = REPO_ROOT / "tests" / "schemathesis" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
UNLIMITED = "1000000"
RUN_WITHIN_SECONDS = 600
SUBJECTS = {
    Role.CUSTOMER: "conformance-customer",
    Role.RESTAURANT: "conformance-owner",
    Role.COURIER: "conformance-courier",
    Role.ADMIN: "conformance-admin",
    Role.ANALYST: "conformance-analyst",
    Role.AUDITOR: "conformance-auditor",
}
TOTALS = re.compile(r"(\d+) generated, (\d+) passed")


@dataclass(frozen=True)
class Seeded:
    restaurant_id: str
    item_id: str
    open_order_id: str
    cancelled_order_id: str
    payment_id: str
    delivery_id: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, Seeded]]:
    environ = server_environ(
        tmp_path_factory.mktemp("conformance") / "data",
        TIFFIN_RATE_LIMIT_PER_MINUTE=UNLIMITED,
        TIFFIN_RATE_LIMIT_ORDERS_PER_MINUTE=UNLIMITED,
        TIFFIN_RATE_LIMIT_WEBHOOKS_PER_MINUTE=UNLIMITED,
        TIFFIN_RATE_LIMIT_LOCATION_PINGS_PER_SECOND="1000",
    )
    with api_server(environ) as server:
        yield server, seed(server)


def seed(server: ApiServer) -> Seeded:
    with httpx.Client(base_url=server.base_url, verify=server.ssl_context()) as client:

        def call(role: Role, method: str, path: str, body: Any, status: int) -> Any:
            headers = {"Authorization": f"Bearer {server.token(SUBJECTS[role], role)}"}
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == status, f"{method} {path}: {response.text}"
            return response.json()

        location = somewhere()
        body = restaurant_body(location)
        restaurant = call(Role.RESTAURANT, "POST", "/v1/restaurants", body, 201)
        menu = f"/v1/restaurants/{restaurant['id']}/menu/items"
        item = call(Role.RESTAURANT, "POST", menu, item_body(), 201)
        online = {"online": True}
        call(Role.RESTAURANT, "PUT", f"/v1/restaurants/{restaurant['id']}/status", online, 200)
        call(Role.COURIER, "POST", "/v1/couriers", {"name": "Ravi", "vehicle_type": "scooter"}, 201)
        call(Role.COURIER, "PUT", "/v1/couriers/me/shift", {"on_shift": True}, 200)
        kitchen = _Kitchen(restaurant["id"], [item["id"]], location)
        placed = [call(Role.CUSTOMER, "POST", "/v1/orders", order_body(kitchen), 201) for _ in "ab"]
        cancel = {"reason": "changed my mind"}
        call(Role.CUSTOMER, "POST", f"/v1/orders/{placed[1]['id']}/cancel", cancel, 200)
    return Seeded(
        restaurant_id=restaurant["id"],
        item_id=item["id"],
        open_order_id=placed[0]["id"],
        cancelled_order_id=placed[1]["id"],
        payment_id=placed[0]["payment"]["id"],
        delivery_id=str(delivery_id_for(UUID(placed[0]["id"]))),
    )


@dataclass(frozen=True)
class _Kitchen:  # what order_body reads of a kitchen
    id: str
    items: list[str]
    location: dict[str, float]


def run_config(seeded: Seeded) -> str:
    """The checked-in settings, plus the seeded ids as dictionaries drawn half of the time.
    A live stream follows the cancelled order, which ends at once (an open one would not)."""
    bound = {
        "restaurant_id": [seeded.restaurant_id],
        "item_id": [seeded.item_id],
        "order_id": [seeded.open_order_id, seeded.cancelled_order_id],
        "payment_id": [seeded.payment_id],
        "delivery_id": [seeded.delivery_id],
    }
    lines = [CONFIG.read_text(), ""]
    for name, values in bound.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {values!r}\n".replace("'", '"'))
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in bound]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("role", list(SUBJECTS), ids=lambda role: role.value)
def test_the_openapi_document_describes_the_api(
    served: tuple[ApiServer, Seeded], role: Role, tmp_path: Path
) -> None:
    server, seeded = served
    config = tmp_path / "schemathesis.toml"
    config.write_text(run_config(seeded))
    environ = {
        **process_environ({}),
        "CONFORMANCE_TOKEN": server.token(SUBJECTS[role], role),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        "NO_COLOR": "1",
    }
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}/openapi.json",
        "--tls-verify",
        str(server.cert),
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
    ]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=RUN_WITHIN_SECONDS,
    )
    report = done.stdout + done.stderr
    totals = TOTALS.search(report)
    assert done.returncode == 0, f"schemathesis as {role.value}:\n{report}"
    assert totals, report
    generated, passed = map(int, totals.groups())
    print(f"schemathesis as {role.value}: {generated} generated, {passed} passed, 0 failures")
    assert generated == passed > 500
