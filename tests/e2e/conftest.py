"""Real-browser fixtures: Debian's Chromium driven by Playwright, one browser per test module.

The service runs on `localhost` and the sandbox providers on `127.0.0.1` (see tests/support.py),
so the browser treats them as different sites and the `SameSite=Lax` binding cookie meets
the same rules it does in production. The customer's app is a small stand-in served on its
own loopback port (`AppStandIn`): link sessions send the browser to its success and failure
URLs, and it shows the query parameters it was sent, with a "Try again" link when it gets a
`retry_url`, as a customer's app would. (Routing a made-up origin with Playwright's
`page.route` is not an option: Chromium follows redirects without consulting routes, and
every arrival at the app is a redirect.)

Every page a test visits is saved as a PNG under `test-artifacts/screenshots/<test>/`.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from oauth_service.sandbox.loopback import LoopbackServer

from ..support import APP_ORIGIN, RunningService

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


class AppStandIn:
    """The customer's app: records every arrival on its success and failure URLs and shows it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.success_url = f"{url}/success"
        self.failure_url = f"{url}/failure"
        self.arrivals: list[str] = []
        self.app = Starlette(routes=[Route("/success", self.page), Route("/failure", self.page)])
        self.app.state.stand_in = self

    async def page(self, request: Request) -> Response:
        self.arrivals.append(str(request.url))
        params = dict(request.query_params)
        title = "Linked" if request.url.path == "/success" else "Not linked"
        rows = "".join(
            f"<dt>{html.escape(k)}</dt><dd data-param='{html.escape(k)}'>{html.escape(v)}</dd>"
            for k, v in params.items()
        )
        retry = (
            f"<p><a id='retry' href='{html.escape(params['retry_url'])}'>Try again</a></p>"
            if "retry_url" in params
            else ""
        )
        return HTMLResponse(
            f"<!doctype html><html lang='en'><title>Acme app · {title}</title>"
            f"<body style='font:16px system-ui;padding:2rem'><h1>Acme app: {title}</h1>"
            f"<dl>{rows}</dl>{retry}</body></html>"
        )

    def params(self, index: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.arrivals[index]).query).items()}


@pytest.fixture(scope="session")
def app_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(lambda url: AppStandIn(url).app, lifespan="off").start()
    yield server
    server.stop()


@pytest.fixture
def app_stand_in(app_server: LoopbackServer) -> AppStandIn:
    stand_in: AppStandIn = app_server.app.state.stand_in
    stand_in.arrivals.clear()
    return stand_in


@pytest.fixture
def backend() -> str:
    """SQLite only: both backends are covered over HTTP; what is tested here is the browser."""
    return "sqlite"


@pytest.fixture
def make_service(
    make_service: Callable[..., RunningService], app_stand_in: AppStandIn
) -> Callable[..., RunningService]:
    """Services that also accept the app stand-in's origin as a redirect target."""

    def make(**env: str) -> RunningService:
        env.setdefault("ALLOWED_REDIRECT_ORIGINS", f"{APP_ORIGIN},{app_stand_in.url}")
        return make_service(**env)

    return make


@pytest.fixture
def context(
    chromium: playwright_api.Browser, request: pytest.FixtureRequest
) -> Iterator[playwright_api.BrowserContext]:
    """A fresh browser profile (cookies, history) per test, English unless a test says otherwise."""
    marker = request.node.get_closest_marker("locale")
    locale = marker.args[0] if marker else "en-US"
    ctx = chromium.new_context(locale=locale, viewport={"width": 900, "height": 760})
    ctx.set_default_timeout(15_000)
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
