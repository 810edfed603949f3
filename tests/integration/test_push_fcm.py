"""The FCM adapter against a local FCM and token endpoint (real HTTP on 127.0.0.1): access
tokens cached and refreshed, and each kind of answer taken the way FCM means it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.fcm_push import FcmSender, retry_after, service_account_info
from application.push import DeviceGone, PushMessage, PushRejected, PushUnavailable
from application.settings import ConfigurationError
from tests.fakes.fcm import PROJECT, FakeFcm, running

DEVICE = "fcm-device-token-0001:APA91b"


@pytest.fixture
def fcm() -> Iterator[FakeFcm]:
    with running(FakeFcm()) as fake:
        yield fake


def sender_for(fcm: FakeFcm, tmp_path: Path) -> FcmSender:
    info = service_account_info(fcm.key_file(tmp_path), None)
    return FcmSender(PROJECT, info, fcm.url)


def message(collapse: str = "order-1:paid", device: str = DEVICE) -> PushMessage:
    data = {"order_id": "order-1", "status": "paid"}
    return PushMessage(device, "Order confirmed", "Paid 315.50 INR.", data, collapse)


def test_a_message_reaches_fcm_with_its_collapse_key_on_every_platform(
    fcm: FakeFcm, tmp_path: Path
) -> None:
    sender_for(fcm, tmp_path).send(message())

    [sent] = fcm.delivered
    assert sent["token"] == DEVICE
    assert sent["notification"] == {"title": "Order confirmed", "body": "Paid 315.50 INR."}
    assert sent["data"] == {"order_id": "order-1", "status": "paid"}
    assert sent["android"]["collapse_key"] == "order-1:paid"
    assert sent["apns"]["headers"]["apns-collapse-id"] == "order-1:paid"
    topic = sent["webpush"]["headers"]["Topic"]
    assert len(topic) <= 32
    assert topic.replace("-", "").replace("_", "").isalnum()


def test_an_access_token_is_reused_until_it_nears_its_expiry(fcm: FakeFcm, tmp_path: Path) -> None:
    sender = sender_for(fcm, tmp_path)
    for number in range(3):
        sender.send(message(f"order-{number}:paid"))
    assert len(fcm.access_tokens) == 1, "one token for three messages"

    fcm.token_lifetime = 120  # inside google-auth's refresh margin (3 min 45 s): stale at once
    sender.tokens.token(renew=True)
    for number in range(2):
        sender.send(message(f"order-{number}:accepted"))
    assert len(fcm.access_tokens) == 4, "a token near its expiry is refreshed before use"
    assert len(fcm.delivered) == 5


def test_a_token_fcm_refuses_is_renewed_and_the_message_sent_once_more(
    fcm: FakeFcm, tmp_path: Path
) -> None:
    sender = sender_for(fcm, tmp_path)
    sender.send(message("order-1:paid"))
    fcm.revoked.add(fcm.access_tokens[-1])

    sender.send(message("order-1:accepted"))

    assert len(fcm.access_tokens) == 2
    assert [m["android"]["collapse_key"] for m in fcm.delivered] == [
        "order-1:paid",
        "order-1:accepted",
    ]


def test_unregistered_and_invalid_tokens_mean_the_device_is_gone(
    fcm: FakeFcm, tmp_path: Path
) -> None:
    sender = sender_for(fcm, tmp_path)
    fcm.unregistered.add("uninstalled-app-token-0001")
    fcm.invalid.add("not-an-fcm-token-at-all-0001")

    with pytest.raises(DeviceGone, match="UNREGISTERED"):
        sender.send(message(device="uninstalled-app-token-0001"))
    with pytest.raises(DeviceGone, match="INVALID_ARGUMENT"):
        sender.send(message(device="not-an-fcm-token-at-all-0001"))
    assert fcm.delivered == []


def test_a_message_fcm_finds_malformed_is_rejected_not_blamed_on_the_device(
    fcm: FakeFcm, tmp_path: Path
) -> None:
    fcm.reject_payloads = True
    with pytest.raises(PushRejected, match="400"):
        sender_for(fcm, tmp_path).send(message())


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [(429, {"Retry-After": "7"}, 7.0), (503, {"Retry-After": "2"}, 2.0), (500, {}, 0.0)],
)
def test_busy_or_failing_fcm_is_unavailable_for_as_long_as_it_says(
    fcm: FakeFcm, tmp_path: Path, status: int, headers: dict[str, str], wait: float
) -> None:
    fcm.failures = [(status, headers)]
    sender = sender_for(fcm, tmp_path)

    with pytest.raises(PushUnavailable, match=str(status)) as unavailable:
        sender.send(message())
    assert unavailable.value.retry_after == wait

    sender.send(message())  # the next attempt goes through
    assert len(fcm.delivered) == 1


def test_no_token_endpoint_and_no_fcm_are_both_unavailable(fcm: FakeFcm, tmp_path: Path) -> None:
    fcm.token_endpoint_down = True
    with pytest.raises(PushUnavailable, match="access token"):
        sender_for(fcm, tmp_path).send(message())

    info = service_account_info(fcm.key_file(tmp_path), None)
    nowhere = FcmSender(PROJECT, info, "http://127.0.0.1:9")  # discard port: refused
    fcm.token_endpoint_down = False
    with pytest.raises(PushUnavailable, match="did not answer"):
        nowhere.send(message())


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("30", 1_000.0) == 30.0
    assert retry_after("Thu, 01 Jan 1970 00:17:20 GMT", 1_000.0) == 40.0
    assert retry_after(None, 1_000.0) == 0.0
    assert retry_after("soon", 1_000.0) == 0.0
    assert retry_after("999999", 0.0) == 3_600.0


def test_a_key_file_that_is_not_a_service_account_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    with pytest.raises(ConfigurationError, match=r"TIFFIN_PUSH_CREDENTIALS_FILE.*not a service"):
        service_account_info(path, None)
    path.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    with pytest.raises(ConfigurationError, match="lacks private_key, token_uri"):
        service_account_info(path, None)
    with pytest.raises(ConfigurationError, match="cannot read"):
        service_account_info(tmp_path / "missing.json", None)
