"""The README's first command, in a browser: the demo links a Google-like and a Microsoft-like account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from oauth_service.demo import build_demo_app
from oauth_service.sandbox.loopback import LoopbackServer

from .flows import SANDBOX_PAGE, consent


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackServer]:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    server = LoopbackServer(lambda url: build_demo_app(url, f"sqlite:///{db}")).start()
    yield server
    server.stop()


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_the_demo_links_an_account_by_clicking(demo, page, shot, provider):
    page.goto(f"{demo.url}/")
    shot(page, "demo-home")
    expect(page.locator(".notice")).to_contain_text("Sandbox demo")
    page.get_by_role("button", name="Connect an account").click()
    expect(page.locator(f'[data-provider="{provider}"]')).to_be_visible()
    shot(page, "link-page")
    page.locator(f'[data-provider="{provider}"]').click()
    page.wait_for_url(SANDBOX_PAGE)
    expect(page.locator(".sandbox-banner")).to_contain_text("SANDBOX")
    shot(page, "consent")
    consent(page)
    page.wait_for_url(f"{demo.url}/demo/result?*")
    shot(page, "result-linked")
    expect(page.locator("h1")).to_have_text("Account linked")
    expect(page.locator('[data-field="provider"]')).to_have_text(provider)
    account_id = page.locator('[data-field="account_id"]').inner_text()
    assert account_id in demo.app.state.sandbox.unipile.accounts


def test_the_demo_explains_an_unticked_calendar(demo, page, shot):
    page.goto(f"{demo.url}/")
    shot(page, "demo-home")
    page.get_by_role("button", name="Connect an account").click()
    expect(page.locator('[data-provider="google"]')).to_be_visible()
    shot(page, "link-page")
    page.locator('[data-provider="google"]').click()
    page.wait_for_url(SANDBOX_PAGE)
    shot(page, "consent")
    # A new person: Google would include a calendar grant an earlier test gave (include_granted_scopes).
    consent(page, untick=("calendar",), email="someone-new@example.com", shot=shot)
    page.wait_for_url(f"{demo.url}/demo/result?*")
    shot(page, "result-missing-scopes")
    expect(page.locator('[data-field="error"]')).to_have_text("missing_scopes")
    expect(page.locator("h1")).to_have_text("Some permissions were not ticked")
    page.get_by_role("link", name="Try again").click()
    expect(page.locator('[data-provider="google"]')).to_be_visible()
    shot(page, "link-page-again")
