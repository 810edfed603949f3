"""Firebase ID tokens over HTTP: the API verifies them against a certificate endpoint on
127.0.0.1 (``tests.fakes.firebase_certs``). The app's clock is a ManualClock the test moves
on, never waits for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.firebase_tokens import MIN_REFRESH_SECONDS
from domain.values import Role
from tests.api_server import ApiServer, api_server, api_settings
from tests.fakes.firebase_certs import (
    DROP,
    FakeFirebaseCerts,
    SigningKey,
    hs256_with_public_key,
    serving,
    tampered,
    unsigned,
)
from tests.scenario import ManualClock


@dataclass
class Firebase:
    client: httpx.Client
    certs: FakeFirebaseCerts
    clock: ManualClock
    server: ApiServer

    def token(self, **claims: Any) -> str:
        return self.certs.mint(self.certs.claims(self.clock(), **claims))


@contextmanager
def firebase_api(data_dir: Path) -> Iterator[Firebase]:
    """The API accepting Firebase tokens of the fake project, on a clock the test moves."""
    clock = ManualClock()
    with serving(FakeFirebaseCerts(max_age=300)) as certs:
        settings = api_settings(
            data_dir, FIREBASE_PROJECT_ID=certs.project_id, FIREBASE_CERTS_URL=certs.url
        )
        with api_server(settings, clock=clock) as server, server.client(http2=True) as client:
            yield Firebase(client, certs, clock, server)


@pytest.fixture(scope="module")
def firebase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Firebase]:
    """One server for the tests that do not move its clock."""
    with firebase_api(tmp_path_factory.mktemp("firebase")) as running:
        yield running


RESTAURANT = {
    "name": "Udupi",
    "cuisine": "veg",
    "address": "1 Main",
    "location": {"lat": 1, "lng": 2},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"]) == (401, "Unauthorized")
    assert body["detail"]


def test_a_firebase_token_without_a_role_claim_is_a_customers(firebase: Firebase) -> None:
    token = bearer(firebase.token())
    client = firebase.client

    assert client.get("/v1/restaurants", headers=token).status_code == 200
    mine = client.get("/v1/orders", headers=token)  # a customer's route
    assert (mine.status_code, mine.json()["items"]) == (200, [])
    refused = client.post("/v1/restaurants", headers=token, json=RESTAURANT)
    assert refused.status_code == 403, refused.text  # not a restaurant's


def test_the_role_claim_gives_the_role(firebase: Firebase) -> None:
    claims = firebase.certs.claims(firebase.clock(), role="restaurant", email_verified=False)
    token = bearer(firebase.certs.mint(claims))

    created = firebase.client.post("/v1/restaurants", headers=token, json=RESTAURANT)

    assert created.status_code == 201, created.text
    assert created.json()["owner_id"] == claims["sub"]


Mint = Callable[[FakeFirebaseCerts, float], str]


def _minted(**overrides: Any) -> Mint:
    return lambda certs, now: certs.mint(certs.claims(now, **overrides))


REFUSED: dict[str, Mint] = {
    "wrong_aud": _minted(aud="another-project"),
    "wrong_iss": _minted(iss="https://securetoken.google.com/another-project"),
    "expired": lambda c, now: c.mint(
        c.claims(now, iat=int(now) - 7200, auth_time=int(now) - 7200, exp=int(now) - 3600)
    ),
    "future_iat": lambda c, now: c.mint(c.claims(now, iat=int(now) + 3600)),
    "future_auth_time": lambda c, now: c.mint(c.claims(now, auth_time=int(now) + 3600)),
    "empty_sub": _minted(sub=""),
    "missing_sub": _minted(sub=DROP),
    "unknown_kid": lambda c, now: c.mint(c.claims(now), key=SigningKey.generate("not-published")),
    "alg_none": lambda c, now: unsigned(c.claims(now), c.key.kid),
    "hs256_signed_with_the_public_key": lambda c, now: hs256_with_public_key(c.claims(now), c.key),
    "tampered_signature": lambda c, now: tampered(c.mint(c.claims(now))),
    "signed_by_another_key_under_the_published_kid": lambda c, now: c.mint(
        c.claims(now), key=SigningKey.generate(c.key.kid)
    ),
}


@pytest.mark.parametrize("mint", REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_firebase_token_is_a_401_and_changes_nothing(firebase: Firebase, mint: Mint) -> None:
    client, certs = firebase.client, firebase.certs
    assert client.get("/v1/restaurants", headers=bearer(firebase.token())).status_code == 200
    fetches = certs.fetches
    token = bearer(mint(certs, firebase.clock()))

    assert_refused(client.get("/v1/restaurants", headers=token))
    assert_refused(client.post("/v1/restaurants", headers=token, json=RESTAURANT))
    assert certs.fetches == fetches  # a bad token never makes the API fetch certificates


def test_a_rotated_key_is_accepted_once_the_cache_may_refresh(tmp_path: Path) -> None:
    with firebase_api(tmp_path) as firebase:
        client, certs = firebase.client, firebase.certs
        old = certs.key
        assert client.get("/v1/restaurants", headers=bearer(firebase.token())).status_code == 200
        certs.rotate()
        rotated = bearer(firebase.token())

        # Fetched a moment ago: an unknown key id does not make the API fetch again yet...
        assert_refused(client.get("/v1/restaurants", headers=rotated))
        assert certs.fetches == 1

        firebase.clock.advance(MIN_REFRESH_SECONDS)  # ...once the minimum interval has passed
        assert client.get("/v1/restaurants", headers=rotated).status_code == 200
        assert certs.fetches == 2
        retired = certs.mint(certs.claims(firebase.clock()), key=old)
        assert_refused(client.get("/v1/restaurants", headers=bearer(retired)))


def test_platform_tokens_still_work_beside_firebase(firebase: Firebase) -> None:
    platform = firebase.server.auth(Role.ANALYST)

    assert firebase.client.get("/v1/restaurants", headers=platform).status_code == 200
