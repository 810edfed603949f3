"""A gateway that is down gets one probe call per reset time, not a call per queued payment;
once it answers again every queued call goes through, none parked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from application.circuit_breaker import BreakerState
from application.runtime import Runtime
from application.settings import Settings
from application.work import PARKED
from domain.payment import payment_id_for
from domain.values import Role
from tests.api_builders import Api
from tests.api_builders import open_kitchen as api_open_kitchen
from tests.api_builders import place as api_place
from tests.api_server import api_server, api_settings
from tests.fakes.upi_gateway import FakeGateway, paying_through
from tests.polling import Seen, poll_until
from tests.scenario import ManualClock, cause, open_kitchen, place
from wiring.bootstrap import Tiffin

FAILURES, RESET = 3, 5.0
OUTAGE_SECONDS, STEP = 60.0, 0.5
LONG_OUTAGE_SECONDS = 12 * RESET  # a probe every reset time
PAYMENTS = 20


@pytest.fixture
def settings(settings: Settings, gateway: FakeGateway) -> Settings:
    return paying_through(settings, gateway, breaker_failures=FAILURES, breaker_reset_seconds=RESET)


def test_calls_wait_for_the_probe_while_the_gateway_is_down_then_all_complete(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    gateway.down = True
    kitchen = open_kitchen(tiffin)
    orders = [place(tiffin, kitchen, cause(Role.CUSTOMER)) for _ in range(PAYMENTS)]
    saga.run_until_idle()
    [breaker] = tiffin.breakers()
    assert breaker.report().state is BreakerState.OPEN
    assert len(gateway.requests) == FAILURES, "the breaker opened after the threshold"

    before, started = len(gateway.requests), clock()
    while clock() - started < OUTAGE_SECONDS:
        clock.advance(STEP)
        saga.run_until_idle()
    outage = clock() - started  # the clock is real time moved on: it counts both
    during_outage = len(gateway.requests) - before
    print(
        f"\nbreaker: {during_outage} calls in {outage:.0f} s of outage "
        f"(the probe rate allows {outage / RESET:.0f}); {PAYMENTS} payments queued"
    )
    assert 1 <= during_outage <= outage / RESET + 1

    gateway.down = False
    for _ in range(int(4 * RESET / STEP)):
        clock.advance(STEP)
        saga.run_until_idle()

    paid_for = {str(payment_id_for(order.id)) for order in orders}
    assert paid_for <= set(gateway.references), "every queued collect went through"
    assert tiffin.work_store().items("outbox") == []
    assert tiffin.work_store().items("outbox", PARKED) == []
    assert breaker.report().state is BreakerState.CLOSED


def test_readyz_and_metrics_show_the_gateway_breaker_open_then_closed(
    tmp_path: Path, gateway: FakeGateway
) -> None:
    """The embedded default: the server's own outbox calls a gateway that is down."""
    gateway.down = True
    settings = api_settings(
        tmp_path,
        PAYMENT_GATEWAY="http",
        PAYMENT_GATEWAY_URL=gateway.url,
        PAYMENT_GATEWAY_KEY=gateway.api_key,
        BREAKER_FAILURES="1",
        BREAKER_RESET_SECONDS="1",
    )
    with api_server(settings) as server, server.client() as client:
        api = Api(server, client)
        api_place(api, api.user(Role.CUSTOMER), api_open_kitchen(api))

        def breaker_says(state: str) -> Callable[[Seen], str | None]:
            def look(seen: Seen) -> str | None:
                answer = client.get("/readyz")
                seen.last = answer.text
                said: str = answer.json()["checks"]["upi_gateway"]
                return said if said.startswith(f"breaker {state}") else None

            return look

        opened = poll_until(breaker_says("open"), within=15.0, what="the breaker open")
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text
        gateway.down = False
        poll_until(breaker_says("closed"), within=15.0, what="the breaker closed again")

    assert ready.status_code == 200, "a gateway that is down does not make the API unready"
    assert opened.startswith("breaker open for")
    shown = [
        line
        for line in metrics.splitlines()
        if line.startswith('tiffin_circuit_breaker_state{destination="upi_gateway"')
        and 'state="open"' in line
    ]
    assert len(shown) == 1, metrics
    assert shown[0].endswith(" 1.0"), shown
    assert 'tiffin_circuit_breaker_failures{destination="upi_gateway"' in metrics


def test_a_payment_that_probes_a_long_outage_again_and_again_is_not_left_behind(
    tiffin: Tiffin, saga: Runtime, clock: ManualClock, gateway: FakeGateway
) -> None:
    """The only queued call is the breaker's probe every time: its failures are the outage's,
    not its own, so it neither backs off past the recovery nor is parked (more probes than
    the queue's attempts, before)."""
    gateway.down = True
    order = place(tiffin, open_kitchen(tiffin), cause(Role.CUSTOMER))
    began = clock()
    while clock() - began < LONG_OUTAGE_SECONDS:
        clock.advance(STEP)
        saga.run_until_idle()
    probes = len(gateway.requests)

    gateway.down = False
    recovered = clock()
    while str(payment_id_for(order.id)) not in gateway.references:
        assert clock() - recovered <= RESET + STEP, "the collect waited past the next probe"
        clock.advance(STEP)
        saga.run_until_idle()

    assert probes > 8  # more than the outbox's attempts before an item is parked
    assert tiffin.work_store().items("outbox", PARKED) == []
