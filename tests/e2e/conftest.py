"""Real-browser fixtures: Debian's Chromium driven by Playwright, one browser per test module.

The service runs on `localhost` and the sandbox providers on `127.0.0.1` (see tests/support.py),
so the browser treats them as different sites and the `SameSite=Lax` binding cookie meets
the same rules it does in production. The app the service redirects to,
`https://app.example.com`, is not a server: every context routes that origin to a small
stand-in page (`AppStandIn`) that shows the query parameters it was sent and a "Try again"
link when it gets a `retry_url`, as a customer's app would.

Every page a test visits is saved as a PNG under `test-artifacts/screenshots/<test>/`.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ..support import APP_ORIGIN

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI and containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # everything is on loopback or routed to the app stand-in
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def chromium() -> Iterator[playwright_api.Browser]:
    if os.environ.get("SKIP_BROWSER_TESTS"):
        pytest.skip("SKIP_BROWSER_TESTS is set")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"No Chromium at {CHROMIUM}: run scripts/test (it installs Debian's chromium), "
            "`apt-get install chromium`, point CHROMIUM at one, or set SKIP_BROWSER_TESTS=1."
        )
    manager = playwright_api.sync_playwright().start()
    # launch() gives Chromium a fresh temporary profile of its own, removed on close.
    browser = manager.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()


@dataclass
class AppStandIn:
    """The customer's app at APP_ORIGIN: records every arrival and shows it as a page."""

    arrivals: list[str] = field(default_factory=list)

    def handle(self, route: playwright_api.Route) -> None:
        url = route.request.url
        self.arrivals.append(url)
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        ok = urlsplit(url).path == "/success"
        rows = "".join(
            f"<dt>{html.escape(k)}</dt><dd data-param='{html.escape(k)}'>{html.escape(v)}</dd>"
            for k, v in params.items()
        )
        retry = (
            f"<p><a id='retry' href='{html.escape(params['retry_url'])}'>Try again</a></p>"
            if "retry_url" in params
            else ""
        )
        title = "Linked" if ok else "Not linked"
        body = (
            f"<!doctype html><html lang='en'><title>App · {title}</title>"
            f"<body style='font:16px system-ui;padding:2rem'><h1>Acme app: {title}</h1>"
            f"<dl>{rows}</dl>{retry}</body></html>"
        )
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)

    def params(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.arrivals[index]).query).items()}


@pytest.fixture
def app_stand_in() -> AppStandIn:
    return AppStandIn()


@pytest.fixture
def context(
    chromium: playwright_api.Browser, app_stand_in: AppStandIn, request: pytest.FixtureRequest
) -> Iterator[playwright_api.BrowserContext]:
    """A fresh browser profile (cookies, history) per test, English unless a test says otherwise."""
    marker = request.node.get_closest_marker("locale")
    locale = marker.args[0] if marker else "en-US"
    ctx = chromium.new_context(locale=locale, viewport={"width": 900, "height": 760})
    ctx.set_default_timeout(15_000)
    ctx.route(f"{APP_ORIGIN}/**", app_stand_in.handle)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: playwright_api.BrowserContext) -> playwright_api.Page:
    return context.new_page()


class Screenshots:
    """Saves each page a test visits, numbered in order, named after what it shows."""

    def __init__(self, test_name: str) -> None:
        self.directory = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page: playwright_api.Page, label: str) -> Path:
        page.wait_for_load_state()
        self.count += 1
        path = self.directory / f"{self.count:02d}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(request.node.name)
