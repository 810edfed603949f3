"""Bearer token verification: Firebase ID tokens against a certificate endpoint on 127.0.0.1,
and platform tokens. Time is a ManualClock (real time, moved on by the test, never waited for);
google-auth checks ``iat``/``exp`` against the real clock too, so Firebase tokens are minted
around real time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from adapters.firebase_tokens import (
    CLOCK_SKEW_SECONDS,
    MAX_STALE_SECONDS,
    MIN_REFRESH_SECONDS,
    FirebaseTokens,
)
from adapters.platform_tokens import REMEMBERED_TOKENS, PlatformTokens
from application.identity import Identity, InvalidToken, TokenVerifierUnavailable
from domain.values import Role
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

SECRET = b"platform-token-secret-for-tests-0123456789"


@pytest.fixture
def certs() -> Iterator[FakeFirebaseCerts]:
    # Tokens are minted 300 s old by the ManualClock: moved on by up to max-age, it stays within
    # google-auth's allowance for iat against the real clock.
    with serving(FakeFirebaseCerts(max_age=300)) as fake:
        yield fake


@pytest.fixture
def firebase(certs: FakeFirebaseCerts, clock: ManualClock) -> FirebaseTokens:
    return FirebaseTokens(certs.project_id, certs.url, clock)


# --- Firebase ID tokens ----------------------------------------------------------------------


def test_a_valid_firebase_token_is_a_customer_identity(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    claims = certs.claims(clock())

    identity = firebase.verify(certs.mint(claims))

    assert identity == Identity(claims["sub"], Role.CUSTOMER, "firebase", claims)
    assert identity.claims["email"] == claims["email"]


@pytest.mark.parametrize("role", ["restaurant", "courier", "admin", "analyst", "auditor"])
def test_the_role_comes_from_the_custom_claim(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock, role: str
) -> None:
    # The verified-contact rule is for customers only: staff may sign in any way.
    claims = certs.claims(clock(), role=role, email_verified=False)

    assert firebase.verify(certs.mint(claims)).role == Role(role)


def test_a_customer_with_a_phone_number_and_no_email_is_accepted(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    claims = certs.claims(clock(), email=DROP, email_verified=DROP, phone_number="+919800000000")

    assert firebase.verify(certs.mint(claims)).role is Role.CUSTOMER


def test_issue_and_auth_times_a_little_ahead_are_allowed_for_clock_skew(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    ahead = int(clock()) + CLOCK_SKEW_SECONDS // 2
    claims = certs.claims(clock(), iat=ahead, auth_time=ahead)

    assert firebase.verify(certs.mint(claims)).subject == claims["sub"]


Mint = Callable[[FakeFirebaseCerts, float], str]


def _claims_minted(**overrides: Any) -> Mint:
    return lambda certs, now: certs.mint(certs.claims(now, **overrides))


FIREBASE_REJECTIONS: dict[str, tuple[Mint, str]] = {
    "wrong_aud": (_claims_minted(aud="another-project"), "aud claim"),
    "wrong_iss": (
        _claims_minted(iss="https://securetoken.google.com/another-project"),
        "iss claim",
    ),
    "iss_of_google_accounts": (_claims_minted(iss="https://accounts.google.com"), "iss claim"),
    "expired": (
        lambda c, now: c.mint(
            c.claims(now, iat=int(now) - 7200, auth_time=int(now) - 7200, exp=int(now) - 3600)
        ),
        "token expired",
    ),
    "future_iat": (lambda c, now: c.mint(c.claims(now, iat=int(now) + 3600)), "in the future"),
    "future_auth_time": (
        lambda c, now: c.mint(c.claims(now, auth_time=int(now) + 3600)),
        "auth_time claim is in the future",
    ),
    "missing_auth_time": (_claims_minted(auth_time=DROP), "no auth_time claim"),
    "empty_sub": (_claims_minted(sub=""), "sub claim"),
    "missing_sub": (_claims_minted(sub=DROP), "sub claim"),
    "unknown_kid": (
        lambda c, now: c.mint(c.claims(now), key=SigningKey.generate("not-published")),
        "unknown key",
    ),
    "no_kid": (lambda c, now: c.mint(c.claims(now), kid=None), "no kid header"),
    "alg_none": (lambda c, now: unsigned(c.claims(now), c.key.kid), "must be signed with RS256"),
    "hs256_signed_with_the_public_key_pem": (
        lambda c, now: hs256_with_public_key(c.claims(now), c.key),
        "must be signed with RS256",
    ),
    "tampered_signature": (lambda c, now: tampered(c.mint(c.claims(now))), "bad signature"),
    "signed_by_another_key_under_a_published_kid": (
        lambda c, now: c.mint(c.claims(now), key=SigningKey.generate(c.key.kid)),
        "bad signature",
    ),
    "tampered_claims": (
        lambda c, now: _swap_payload(c.mint(c.claims(now)), c.mint(c.claims(now, role="admin"))),
        "bad signature",
    ),
    "unverified_customer": (
        _claims_minted(email_verified=DROP, phone_number=DROP),
        "verified email address or a phone number",
    ),
    "customer_with_unverified_email": (
        _claims_minted(email_verified=False),
        "verified email address or a phone number",
    ),
    "customer_with_email_verified_as_a_string": (
        _claims_minted(email_verified="true"),
        "verified email address or a phone number",
    ),
    "system_role": (_claims_minted(role="system"), "role claim must be one of"),
    "unknown_role": (_claims_minted(role="superuser"), "role claim must be one of"),
    "not_a_jwt": (lambda c, now: "not-a-token", "malformed token"),
}


def _swap_payload(signed: str, other: str) -> str:
    """``other``'s claims under ``signed``'s header and signature."""
    head, _, signature = signed.split(".")
    return f"{head}.{other.split('.')[1]}.{signature}"


@pytest.mark.parametrize(
    ("mint", "reason"), FIREBASE_REJECTIONS.values(), ids=FIREBASE_REJECTIONS.keys()
)
def test_a_firebase_token_is_refused(
    certs: FakeFirebaseCerts,
    firebase: FirebaseTokens,
    clock: ManualClock,
    mint: Mint,
    reason: str,
) -> None:
    firebase.verify(certs.mint(certs.claims(clock())))  # the certificates are cached
    token = mint(certs, clock())

    with pytest.raises(InvalidToken, match=reason):
        firebase.verify(token)
    assert certs.fetches == 1


def test_certificates_are_fetched_once_while_the_cache_is_fresh(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    for _ in range(100):
        firebase.verify(certs.mint(certs.claims(clock())))
        clock.advance(certs.max_age / 200)

    assert certs.fetches == 1

    clock.advance(certs.max_age / 2)  # max-age has now passed
    firebase.verify(certs.mint(certs.claims(clock())))

    assert certs.fetches == 2


def test_a_rotated_key_is_accepted_once_the_cache_refreshes(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    old = certs.key
    firebase.verify(certs.mint(certs.claims(clock())))
    new = certs.rotate()
    rotated = certs.mint(certs.claims(clock()), key=new)

    # Just fetched: a key id we do not know does not make us fetch again yet...
    with pytest.raises(InvalidToken, match="unknown key"):
        firebase.verify(rotated)
    assert certs.fetches == 1

    # ...but once the minimum interval has passed it does, though max-age has not.
    clock.advance(MIN_REFRESH_SECONDS)
    assert firebase.verify(rotated).subject
    assert certs.fetches == 2

    # The retired key is gone from the refreshed set.
    with pytest.raises(InvalidToken, match="unknown key"):
        firebase.verify(certs.mint(certs.claims(clock()), key=old))


def test_made_up_key_ids_cannot_force_a_fetch_per_request(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    firebase.verify(certs.mint(certs.claims(clock())))
    stranger = SigningKey.generate()

    for minute in range(3):
        for attempt in range(50):
            token = certs.mint(certs.claims(clock()), key=stranger, kid=f"k{minute}-{attempt}")
            with pytest.raises(InvalidToken, match="unknown key"):
                firebase.verify(token)
        assert certs.fetches == 1 + minute  # at most one refresh per interval
        clock.advance(MIN_REFRESH_SECONDS)


def test_a_cold_cache_fetches_once_for_concurrent_verifications(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    tokens = [certs.mint(certs.claims(clock())) for _ in range(16)]
    identities: list[Identity] = []
    start = threading.Barrier(len(tokens))

    def verify(token: str) -> None:
        start.wait()
        identities.append(firebase.verify(token))

    threads = [threading.Thread(target=verify, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(identities) == len(tokens)
    assert certs.fetches == 1


def test_no_certificates_at_all_is_unavailability_not_a_bad_token(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    certs.fail_with = 503
    token = certs.mint(certs.claims(clock()))

    with pytest.raises(TokenVerifierUnavailable):
        firebase.verify(token)
    with pytest.raises(TokenVerifierUnavailable):
        firebase.verify(token)
    assert certs.fetches == 1  # a failing endpoint is not asked again at once either

    certs.fail_with = None
    clock.advance(MIN_REFRESH_SECONDS)
    assert firebase.verify(token).subject
    assert certs.fetches == 2


def test_a_failed_refresh_keeps_the_certificates_held(
    certs: FakeFirebaseCerts, firebase: FirebaseTokens, clock: ManualClock
) -> None:
    firebase.verify(certs.mint(certs.claims(clock())))
    certs.fail_with = 500
    clock.advance(certs.max_age + 1)

    assert firebase.verify(certs.mint(certs.claims(clock()))).subject
    assert certs.fetches == 2


def test_certificates_held_past_their_max_age_serve_for_a_bounded_time_only(
    certs: FakeFirebaseCerts, clock: ManualClock
) -> None:
    assert MAX_STALE_SECONDS == 6 * 3600  # the default; a shorter bound keeps the clock near now
    certs.max_age = 60
    firebase = FirebaseTokens(certs.project_id, certs.url, clock, max_stale=120)

    def token() -> str:  # times from the real clock, which google-auth checks them against
        return certs.mint(certs.claims(time.time()))

    firebase.verify(token())
    certs.fail_with = 500

    clock.advance(60 + 119)
    assert firebase.verify(token()).subject
    clock.advance(1)
    with pytest.raises(TokenVerifierUnavailable):
        firebase.verify(token())

    certs.fail_with = None
    clock.advance(MIN_REFRESH_SECONDS)
    assert firebase.verify(token()).subject


# --- Platform tokens -------------------------------------------------------------------------


@pytest.fixture
def platform(clock: ManualClock) -> PlatformTokens:
    return PlatformTokens(SECRET, clock)


def test_a_platform_token_is_the_identity_it_was_issued_for(platform: PlatformTokens) -> None:
    identity = platform.verify(platform.issue("alice", Role.RESTAURANT, ttl_seconds=600))

    assert (identity.subject, identity.role, identity.token_kind) == (
        "alice",
        Role.RESTAURANT,
        "platform",
    )
    assert identity.claims["exp"] - identity.claims["iat"] == 600
    assert (identity.claims["iss"], identity.claims["aud"]) == ("tiffin", "tiffin-api")


def test_a_platform_token_expires_by_the_clock(
    platform: PlatformTokens, clock: ManualClock
) -> None:
    token = platform.issue("alice", Role.CUSTOMER, ttl_seconds=60)
    clock.advance(59)
    assert platform.verify(token).subject == "alice"

    clock.advance(1)
    with pytest.raises(InvalidToken, match="expired"):
        platform.verify(token)


def test_a_remembered_token_is_still_refused_once_expired_and_its_twins_never_pass(
    platform: PlatformTokens, clock: ManualClock
) -> None:
    now = int(clock())
    token = _platform(exp=now + 120)(now)
    assert platform.verify(token).subject == "alice"  # remembered from here on
    clock.advance(120)
    with pytest.raises(InvalidToken, match="expired"):
        platform.verify(token)
    with pytest.raises(InvalidToken, match="bad signature"):  # its twin, another signature
        platform.verify(tampered(token))


def test_the_memory_of_verified_tokens_is_bounded(platform: PlatformTokens) -> None:
    tokens = [platform.issue(f"user-{n}", Role.CUSTOMER) for n in range(REMEMBERED_TOKENS + 50)]
    for token in tokens:
        platform.verify(token)
    assert platform.remembered == REMEMBERED_TOKENS
    assert platform.verify(tokens[0]).subject == "user-0"  # forgotten, so verified again
    assert platform.remembered == REMEMBERED_TOKENS


def test_platform_tokens_are_not_issued_for_the_system_role(platform: PlatformTokens) -> None:
    with pytest.raises(ValueError, match="role"):
        platform.issue("saga", Role.SYSTEM)


def test_a_short_platform_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PlatformTokens(b"too-short")


def _platform(
    secret: bytes = SECRET, algorithm: str = "HS256", **overrides: Any
) -> Callable[[float], str]:
    def mint(now: float) -> str:
        claims: dict[str, Any] = {
            "iss": "tiffin",
            "aud": "tiffin-api",
            "sub": "alice",
            "role": "customer",
            "iat": int(now),
            "exp": int(now) + 3600,
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not DROP}
        key: str | bytes = "" if algorithm == "none" else secret  # "none" takes no key
        return jwt.encode(claims, key, algorithm=algorithm)

    return mint


PLATFORM_REJECTIONS: dict[str, tuple[Callable[[float], str], str]] = {
    "expired": (
        lambda now: _platform(iat=int(now) - 7200, exp=int(now) - 3600)(now),
        "token expired",
    ),
    "wrong_secret": (_platform(secret=b"another-secret-of-at-least-32-bytes!!"), "bad signature"),
    "wrong_aud": (_platform(aud="another-api"), "aud claim"),
    "wrong_iss": (_platform(iss="someone-else"), "iss claim"),
    "missing_exp": (_platform(exp=DROP), "no exp claim"),
    "missing_iat": (_platform(iat=DROP), "no iat claim"),
    "missing_sub": (_platform(sub=DROP), "no sub claim"),
    "empty_sub": (_platform(sub=""), "sub claim"),
    "future_iat": (lambda now: _platform(iat=int(now) + 3600)(now), "in the future"),
    "alg_none": (_platform(algorithm="none"), "must be signed with HS256"),
    "hs512": (_platform(algorithm="HS512", secret=SECRET * 2), "must be signed with HS256"),
    "unknown_role": (_platform(role="superuser"), "role claim must be one of"),
    "system_role": (_platform(role="system"), "role claim must be one of"),
    "missing_role": (_platform(role=DROP), "role claim must be one of"),
    "tampered_signature": (lambda now: tampered(_platform()(now)), "bad signature"),
    "not_a_jwt": (lambda now: "not.a.token", "malformed token"),
    "empty": (lambda now: "", "no token"),
}


@pytest.mark.parametrize(
    ("mint", "reason"), PLATFORM_REJECTIONS.values(), ids=PLATFORM_REJECTIONS.keys()
)
def test_a_platform_token_is_refused(
    platform: PlatformTokens, clock: ManualClock, mint: Callable[[float], str], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        platform.verify(mint(clock()))
