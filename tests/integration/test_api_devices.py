"""``/v1/me/devices`` over HTTP: a user's devices for push notifications, any role, each
device held by one user at a time."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from domain.values import Role
from tests.api_builders import Api
from tests.api_server import ApiServer, api_server, api_settings

MAX_DEVICES = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    directory = tmp_path_factory.mktemp("devices")
    with api_server(api_settings(directory, PUSH_MAX_DEVICES=str(MAX_DEVICES))) as running:
        yield running


@pytest.fixture
def api(server: ApiServer) -> Iterator[Api]:
    with server.client() as client:
        yield Api(server, client)


def token() -> str:
    return f"d{uuid4().hex}:APA91bH-{uuid4().hex[:12]}_x"


def tokens_of(api: Api, user: object) -> list[str]:
    return [d["token"] for d in api.expect(200, user, "GET", "/v1/me/devices")["items"]]


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.RESTAURANT, Role.COURIER, Role.ADMIN])
def test_any_role_registers_a_device_once_and_again_harmlessly(api: Api, role: Role) -> None:
    user, phone = api.user(role), token()

    first = api.expect(201, user, "PUT", f"/v1/me/devices/{phone}")
    again = api.expect(200, user, "PUT", f"/v1/me/devices/{phone}")

    assert first["token"] == again["token"] == phone
    assert again["registered_at"] >= first["registered_at"]
    assert tokens_of(api, user) == [phone]


def test_a_device_signed_into_another_account_moves_there(api: Api) -> None:
    asha, ravi, phone = api.user(Role.CUSTOMER), api.user(Role.COURIER), token()
    api.expect(201, asha, "PUT", f"/v1/me/devices/{phone}")

    api.expect(201, ravi, "PUT", f"/v1/me/devices/{phone}")

    assert tokens_of(api, asha) == []
    assert tokens_of(api, ravi) == [phone]
    refused = api.call(asha, "DELETE", f"/v1/me/devices/{phone}")
    assert refused.status_code == 404, "not hers any more"
    assert tokens_of(api, ravi) == [phone], "and still his"


def test_unregistering_stops_it_and_a_second_time_is_a_404(api: Api) -> None:
    user, phone, tablet = api.user(Role.RESTAURANT), token(), token()
    for device in (phone, tablet):
        api.expect(201, user, "PUT", f"/v1/me/devices/{device}")

    assert api.call(user, "DELETE", f"/v1/me/devices/{phone}").status_code == 204
    assert tokens_of(api, user) == [tablet]
    gone = api.call(user, "DELETE", f"/v1/me/devices/{phone}")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "no such device is registered for you"


def test_past_the_limit_the_least_recently_registered_device_goes(api: Api) -> None:
    user = api.user(Role.CUSTOMER)
    devices = [token() for _ in range(MAX_DEVICES + 1)]
    for device in devices:
        api.expect(201, user, "PUT", f"/v1/me/devices/{device}")

    assert tokens_of(api, user) == list(reversed(devices[1:]))


@pytest.mark.parametrize("bad", ["short", "has spaces in it, a lot of them", "x" * 1025, "é" * 20])
def test_what_is_no_fcm_token_is_refused_with_the_reason_and_nothing_kept(
    api: Api, bad: str
) -> None:
    user = api.user(Role.CUSTOMER)
    answer = api.call(user, "PUT", f"/v1/me/devices/{bad}")
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "token" in answer.text
    assert tokens_of(api, user) == []


def test_devices_need_a_bearer_token(api: Api) -> None:
    answer = api.call(None, "PUT", f"/v1/me/devices/{token()}")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
