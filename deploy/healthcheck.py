"""The container's health check: GET /healthz on this container's API port, over HTTPS.

The certificate is not checked: this is the process asking itself whether it is alive
(often with a self-signed certificate), not a client trusting a server."""

import os
import ssl
import sys
import urllib.request

port = os.environ.get("TIFFIN_PORT", "8443")
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    with urllib.request.urlopen(
        f"https://127.0.0.1:{port}/healthz", context=context, timeout=3
    ) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except OSError as error:
    print(f"unhealthy: {error}", file=sys.stderr)
    sys.exit(1)
