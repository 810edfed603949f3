"""``tiffin call``: one HTTP/3 request to the API (curl here has no HTTP/3)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from application.settings import ConfigurationError, Settings, load_settings
from cli.h3_client import H3ConnectionError, h3_request

TOKEN_VARIABLE = "TIFFIN_TOKEN"  # noqa: S105 (the variable's name, not a token)
LOOPBACK_FOR_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
EXIT_OK, EXIT_HTTP_ERROR, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def call_api(args: argparse.Namespace) -> int:
    """Sends the request, prints the body to stdout and ``HTTP/3 <status>`` to stderr."""
    url, cafile = _server_and_trust(args)
    if cafile is not None and not cafile.is_file():
        print(
            f"tiffin call: no CA certificate at {cafile} (pass --cacert FILE or --insecure)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    headers = dict(args.header)
    token = args.token or os.environ.get(TOKEN_VARIABLE)
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = b""
    if args.data is not None:
        headers["content-type"] = "application/json"
        body = args.data.encode()
    # The failure reaches the user in our own message; aioquic would print it a second time.
    logging.getLogger("quic").setLevel(logging.CRITICAL)
    try:
        response = h3_request(
            url.rstrip("/") + args.path,
            args.method,
            headers=headers,
            body=body,
            cafile=cafile,
            verify=not args.insecure,
            connect_timeout_seconds=args.connect_timeout,
        )
    except H3ConnectionError as error:
        print(f"tiffin call: cannot reach {url}: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    sys.stdout.buffer.write(response.body)
    sys.stdout.flush()
    print(f"HTTP/3 {response.status}", file=sys.stderr)
    return EXIT_OK if response.status < 400 else EXIT_HTTP_ERROR


def _server_and_trust(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The URL and the CA file (None: do not verify), from the settings unless given."""
    trust_given = args.insecure or args.cacert is not None
    if args.url is not None and trust_given:
        return args.url, None if args.insecure else args.cacert
    # The token variable is the client's, not a server setting, which load_settings rejects.
    settings = load_settings({k: v for k, v in os.environ.items() if k != TOKEN_VARIABLE})
    url = args.url or _default_url(settings)
    return url, None if args.insecure else args.cacert or _default_cafile(settings)


def _default_url(settings: Settings) -> str:
    host = LOOPBACK_FOR_WILDCARD.get(settings.host, settings.host)
    return f"https://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _default_cafile(settings: Settings) -> Path:
    return settings.tls_cert or settings.data_dir / "tls" / "cert.pem"


def _json_text(value: str) -> str:
    try:
        json.loads(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error})") from None
    return value


def _header(value: str) -> tuple[str, str]:
    name, colon, content = value.partition(":")
    if not colon or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError("must look like 'Name: value'")
    return name.lower(), content.strip()


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise argparse.ArgumentTypeError("must start with /")
    return value


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise argparse.ArgumentTypeError("must look like https://HOST:PORT")
    return value


def add_commands(commands: Any) -> None:
    """Adds ``call`` to the ``tiffin`` subcommands."""
    call = commands.add_parser(
        "call",
        help="send one HTTP/3 request to the API and print the response body",
        description="Sends METHOD PATH to the API over HTTP/3 and prints the response body to "
        "stdout and 'HTTP/3 STATUS' to stderr. Exits 0 for 2xx and 3xx, 1 for other statuses, "
        "2 for bad arguments and 3 when the server cannot be reached.",
    )
    call.add_argument("method", metavar="METHOD", type=str.upper, help="GET, POST, ...")
    call.add_argument("path", metavar="PATH", type=_path, help="e.g. /orders/123?wait=1")
    call.add_argument("--data", type=_json_text, metavar="JSON", help="a JSON request body")
    call.add_argument(
        "--token", help=f"sent as 'authorization: Bearer TOKEN' (default: ${TOKEN_VARIABLE})"
    )
    call.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    call.add_argument(
        "--url", type=_https_url, help="the server (default https://TIFFIN_HOST:TIFFIN_PORT)"
    )
    call.add_argument(
        "--cacert",
        type=Path,
        metavar="FILE",
        help="trust this certificate (default TIFFIN_TLS_CERT, else <data dir>/tls/cert.pem)",
    )
    call.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    call.add_argument(
        "--connect-timeout", type=float, default=5.0, metavar="SECONDS", help="default 5"
    )
    call.set_defaults(run=call_api)


def main(argv: Sequence[str] | None = None) -> int:
    """``tiffin call`` on its own: ``python -m cli.call METHOD PATH ...``."""
    parser = argparse.ArgumentParser(prog="tiffin")
    add_commands(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["call", *(sys.argv[1:] if argv is None else argv)])
        code: int = args.run(args)
    except SystemExit as exit_request:  # argparse's way to reject arguments
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_USAGE
    except ConfigurationError as error:
        print(f"tiffin: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
