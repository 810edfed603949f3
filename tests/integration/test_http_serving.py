"""The serving layer: Hypercorn over TLS (HTTP/1.1, HTTP/2, HTTP/3), shutdown, certificate,
the HTTP/3 client and ``tiffin call``, against the echo app in a server process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import NameOID

from adapters.tls_certificate import ensure_certificate
from cli.h3_client import H3Client, H3ConnectionError
from tests.fakes.echo_app import SLOW_STARTED_LINE
from tests.http_servers import REPO_ROOT, RunningServer, echo_server, free_port

WITHIN_SECONDS = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with echo_server(tmp_path_factory.mktemp("echo")) as running:
        yield running


def h3_client(server: RunningServer, *, idle_timeout_seconds: float = 30.0) -> H3Client:
    return H3Client(
        "127.0.0.1", server.port, cafile=server.cert, idle_timeout_seconds=idle_timeout_seconds
    )


@pytest.mark.parametrize(("http2", "version"), [(False, "HTTP/1.1"), (True, "HTTP/2")])
def test_tcp_serves_http1_and_http2_and_advertises_http3_on_the_same_port(
    server: RunningServer, http2: bool, version: str
) -> None:
    with httpx.Client(verify=server.ssl_context(), http2=http2) as client:
        response = client.get(f"https://localhost:{server.port}/hello")

    assert (response.status_code, response.http_version) == (200, version)
    assert response.json() == {"hello": "world"}
    assert response.headers["alt-svc"] == f'h3=":{server.port}"; ma=3600'


def test_http3_get_and_post(server: RunningServer) -> None:
    async def get_and_post() -> None:
        async with h3_client(server) as client:
            hello = await client.request("GET", "/hello")
            echoed = await client.request(
                "POST", "/echo", headers={"Content-Type": "application/json"}, body=b'{"a": 1}'
            )
        assert (hello.status, hello.json()) == (200, {"hello": "world"})
        assert hello.headers["server"] == "hypercorn-h3"
        assert (echoed.status, echoed.body) == (200, b'{"a": 1}')
        assert echoed.headers["content-type"] == "application/json"

    asyncio.run(get_and_post())


def test_fifty_concurrent_http3_requests_on_one_connection_are_all_answered(
    server: RunningServer,
) -> None:
    async def fifty() -> None:
        async with h3_client(server) as client:
            responses = await asyncio.gather(
                *(client.request("POST", "/echo", body=f"request {n}".encode()) for n in range(50))
            )
        assert [response.body for response in responses] == [
            f"request {n}".encode() for n in range(50)
        ]
        assert len({response.headers["x-client"] for response in responses}) == 1

    asyncio.run(fifty())


def test_server_sent_events_arrive_chunk_by_chunk_over_http3(server: RunningServer) -> None:
    async def events() -> None:
        async with h3_client(server) as client, client.stream("GET", "/events") as stream:
            status, headers = await stream.head()
            chunks = [chunk async for chunk in stream]
        assert (status, headers["content-type"]) == (200, "text/event-stream; charset=utf-8")
        assert chunks == [f"data: event {n}\n\n".encode() for n in (1, 2, 3)]

    asyncio.run(events())


def test_clients_refuse_a_certificate_they_do_not_trust(
    server: RunningServer, tmp_path: Path
) -> None:
    stranger, _ = ensure_certificate(tmp_path)

    async def connect() -> None:
        async with H3Client("127.0.0.1", server.port, cafile=stranger):
            pass

    refused = f"QUIC handshake with 127.0.0.1:{server.port} failed: self-signed certificate"
    with pytest.raises(H3ConnectionError, match=refused):
        asyncio.run(connect())
    distrust = ssl.create_default_context(cafile=str(stranger))
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.url}/hello", verify=distrust)


def test_requests_pending_when_the_connection_dies_fail_instead_of_hanging(
    tmp_path: Path,
) -> None:
    async def request_then_kill(running: RunningServer) -> None:
        async with h3_client(running, idle_timeout_seconds=1.0) as client:
            slow = asyncio.create_task(client.request("GET", "/slow"))
            await asyncio.to_thread(running.wait_for_line, SLOW_STARTED_LINE, WITHIN_SECONDS)
            running.process.kill()  # no goodbye: the client notices only by the silence
            async with asyncio.timeout(WITHIN_SECONDS):
                with pytest.raises(H3ConnectionError, match="QUIC connection closed"):
                    await slow
            with pytest.raises(H3ConnectionError, match="QUIC connection closed"):
                client.stream("GET", "/hello")

    with echo_server(tmp_path) as running:
        asyncio.run(request_then_kill(running))


def test_a_client_cancelling_an_http3_request_leaves_http3_working(tmp_path: Path) -> None:
    async def cancel_then_ask_again(running: RunningServer) -> None:
        async with h3_client(running) as client:
            cancelled = asyncio.create_task(client.request("GET", "/slow"))
            await asyncio.to_thread(running.wait_for_line, SLOW_STARTED_LINE, WITHIN_SECONDS)
            cancelled.cancel()  # the client stops the stream before the response starts
            with contextlib.suppress(asyncio.CancelledError):
                await cancelled
            async with asyncio.timeout(WITHIN_SECONDS):
                # Started later, so answered only after the cancelled one tried to respond.
                after = await client.request("GET", "/slow")
        async with h3_client(running) as client:
            fresh = await client.request("GET", "/hello")
        assert (after.status, fresh.status) == (200, 200)

    with echo_server(tmp_path) as running:
        asyncio.run(cancel_then_ask_again(running))
    assert "Traceback" not in running.log_text()


def test_sigterm_lets_the_request_in_flight_finish_then_frees_the_port(tmp_path: Path) -> None:
    graceful_seconds = 5.0
    with (
        echo_server(tmp_path, graceful_seconds=graceful_seconds) as running,
        ThreadPoolExecutor(max_workers=1) as executor,
    ):
        # A client that closes its connection after the answer, as a one-off request does:
        # Hypercorn waits (up to the graceful timeout) for idle keep-alive ones to close.
        in_flight = executor.submit(httpx.get, f"{running.url}/slow", verify=running.ssl_context())
        running.wait_for_line(SLOW_STARTED_LINE, WITHIN_SECONDS)
        started = time.monotonic()
        exit_code = running.terminate(within_seconds=graceful_seconds + WITHIN_SECONDS)
        took = time.monotonic() - started
        response = in_flight.result(timeout=WITHIN_SECONDS)

    assert exit_code == 0, running.log_text()
    assert (response.status_code, response.http_version, response.json()) == (
        200,
        "HTTP/1.1",
        {"slow": True},
    )
    assert took < graceful_seconds  # it ended with the request, not with the graceful timeout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=WITHIN_SECONDS)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", running.port))  # HTTP/3's UDP socket is closed too


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_server_exits_promptly_on_a_shutdown_signal(
    tmp_path: Path, signal_number: int
) -> None:
    with echo_server(tmp_path, graceful_seconds=30.0) as running:
        started = time.monotonic()
        exit_code = running.terminate(within_seconds=5.0, signal_number=signal_number)

    assert exit_code == 0, running.log_text()
    assert time.monotonic() - started < 5.0


def test_certificate_names_localhost_and_its_key_is_private(tmp_path: Path) -> None:
    previous_umask = os.umask(0)  # even a umask that hides nothing leaves the key private
    try:
        cert_path, key_path = ensure_certificate(tmp_path / "data")
    finally:
        os.umask(previous_umask)

    assert (cert_path, key_path) == (tmp_path / "data/tls/cert.pem", tmp_path / "data/tls/key.pem")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1"), ip_address("::1")]
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    lifetime = certificate.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=364) < lifetime <= timedelta(days=365)


def test_certificate_is_kept_while_valid_and_regenerated_within_a_week_of_expiry(
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    valid_for_300_days, _ = ensure_certificate(tmp_path / "kept", now=now - timedelta(days=65))
    before = valid_for_300_days.read_bytes()
    expiring_in_5_days, _ = ensure_certificate(tmp_path / "renewed", now=now - timedelta(days=360))
    expiring = expiring_in_5_days.read_bytes()

    assert ensure_certificate(tmp_path / "kept")[0].read_bytes() == before
    renewed = ensure_certificate(tmp_path / "renewed")[0].read_bytes()
    assert renewed != expiring
    expiry = x509.load_pem_x509_certificate(renewed).not_valid_after_utc
    assert expiry > now + timedelta(days=364)


@pytest.mark.parametrize("damage", ["garbled certificate", "missing key", "someone else's key"])
def test_certificate_is_regenerated_when_unreadable_or_not_matching_its_key(
    tmp_path: Path, damage: str
) -> None:
    cert_path, key_path = ensure_certificate(tmp_path)
    if damage == "garbled certificate":
        cert_path.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    elif damage == "missing key":
        key_path.unlink()
    else:
        other = ec.generate_private_key(ec.SECP256R1())
        key_path.write_bytes(other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))

    ensure_certificate(tmp_path)

    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert certificate.public_key() == key.public_key()


def tiffin_call(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("TIFFIN_")}
    return subprocess.run(
        [sys.executable, "-m", "cli.call", *args],
        cwd=REPO_ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tiffin_call_prints_the_body_on_stdout_and_the_status_on_stderr(
    server: RunningServer,
) -> None:
    target = ["--url", server.url, "--cacert", str(server.cert)]
    hello = tiffin_call("get", "/hello", *target)
    echoed = tiffin_call("POST", "/echo", "--data", '{"a": [1, 2]}', *target)

    assert (hello.returncode, hello.stdout, hello.stderr) == (
        0,
        '{"hello":"world"}',
        "HTTP/3 200\n",
    )
    assert (echoed.returncode, echoed.stdout) == (0, '{"a": [1, 2]}')


def test_tiffin_call_sends_json_the_token_and_headers(server: RunningServer) -> None:
    given = tiffin_call(
        "POST", "/headers", "--data", "{}", "--token", "t0ken", "--header", "X-Trace: abc",
        "--url", server.url, "--cacert", str(server.cert),
    )  # fmt: skip
    # With neither --url nor --cacert, the server settings say where and whom to trust.
    settings = {"TIFFIN_PORT": str(server.port), "TIFFIN_DATA_DIR": str(server.data_dir)}
    from_environment = tiffin_call("GET", "/headers", env={**settings, "TIFFIN_TOKEN": "env"})

    assert given.returncode == 0, given.stderr
    sent = json.loads(given.stdout)
    assert sent["content-type"] == "application/json"
    assert (sent["authorization"], sent["x-trace"]) == ("Bearer t0ken", "abc")
    assert sent[":authority" if ":authority" in sent else "host"] == f"127.0.0.1:{server.port}"
    assert from_environment.returncode == 0, from_environment.stderr
    assert json.loads(from_environment.stdout)["authorization"] == "Bearer env"


def test_tiffin_call_exit_codes(server: RunningServer) -> None:
    target = ["--url", server.url, "--cacert", str(server.cert)]
    missing = tiffin_call("GET", "/missing", *target)
    bad_json = tiffin_call("POST", "/echo", "--data", "{not json", *target)
    nowhere = f"https://127.0.0.1:{free_port()}"
    unreachable = tiffin_call(
        "GET", "/hello", "--url", nowhere, "--insecure", "--connect-timeout", "1"
    )

    assert (missing.returncode, missing.stderr) == (1, "HTTP/3 404\n")
    assert bad_json.returncode == 2
    assert "--data: not valid JSON" in bad_json.stderr
    assert unreachable.returncode == 3
    [line] = unreachable.stderr.splitlines()  # one line: no asyncio noise before it
    assert line.startswith(f"tiffin call: cannot reach {nowhere}: "), unreachable.stderr
