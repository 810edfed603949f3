"""The interactive docs in a real browser (Debian's Chromium, driven by Playwright): Swagger UI
renders every operation of the OpenAPI document, under the page's Content-Security-Policy,
without a request to any other origin and without an error in the console."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, sync_playwright

from tests.api_server import ApiServer, api_server, api_settings

CHROMIUM = Path("/usr/bin/chromium")  # .ci/run installs it (apt-get install chromium)
WITHIN_MS = 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with api_server(api_settings(tmp_path_factory.mktemp("docs"))) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Page]:
    assert CHROMIUM.exists(), f"no browser at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(ignore_https_errors=True)  # the server's own certificate
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_swagger_ui_renders_every_operation_from_this_origin_alone(
    server: ApiServer, page: Page
) -> None:
    requested: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda request: requested.append(_url(request)))
    page.on("console", lambda message: _complaint(message, complaints))
    page.on("pageerror", lambda error: complaints.append(f"page error: {error}"))
    with server.client() as client:
        document = client.get("/openapi.json").json()
    operations = sum(len(methods) for methods in document["paths"].values())

    page.goto(f"{server.url}/docs", wait_until="load", timeout=WITHIN_MS)
    page.wait_for_selector(".opblock", timeout=WITHIN_MS)
    rendered = page.locator(".opblock").count()
    page.locator(".opblock-summary", has_text="/v1/orders/{order_id}/accept").first.click()
    responses = page.locator(".opblock.is-open .responses-table .response-col_status")
    responses.first.wait_for(timeout=WITHIN_MS)
    statuses = {text.strip() for text in responses.all_inner_texts()}

    print(f"\n/docs in Chromium: {rendered} operations, requests {sorted(set(requested))}")
    assert rendered == operations
    assert {"200", "401", "403", "404", "409", "422", "429", "503"} <= statuses
    assert requested, "the page was loaded over the network"
    assert all(url.startswith(server.url) for url in requested), requested
    assert complaints == [], "a refused asset or script, or a script error"


def test_an_inline_script_is_refused_by_the_page_policy(server: ApiServer, page: Page) -> None:
    """The policy is in force, not only sent: a script injected into the page does not run."""
    complaints: list[str] = []
    page.on("console", lambda message: _complaint(message, complaints))
    page.goto(f"{server.url}/docs", wait_until="load", timeout=WITHIN_MS)

    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.injected = true'; document.body.appendChild(s); }"
    )

    assert page.evaluate("window.injected === true") is False
    assert any(re.search(r"Content Security Policy", text) for text in complaints), complaints


def _url(request: Request) -> str:
    return request.url


def _complaint(message: ConsoleMessage, complaints: list[str]) -> None:
    if message.type in ("error", "warning"):
        complaints.append(f"{message.type}: {message.text}")
