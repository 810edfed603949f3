"""Schemathesis hooks for the conformance runs (tests/e2e/test_openapi_conformance.py).

A client sends a new ``Idempotency-Key`` with each new request. Schemathesis draws keys from
their schema and so sends one key with many different bodies, which the API rightly refuses
(422: "this Idempotency-Key was used with a different request body", tested in
test_api_idempotency.py). A valid key is therefore replaced by a fresh one; an invalid key is
left as drawn, so its refusal is still checked.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

VALID_KEY = re.compile(r"[!-~]([ -~]*[!-~])?")
HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    key = (case.headers or {}).get(HEADER)
    if isinstance(key, str) and len(key) <= 255 and VALID_KEY.fullmatch(key):
        case.headers[HEADER] = f"conformance-{uuid.uuid4().hex}"
