"""What a person does in the browser, as steps the tests compose: open, choose, consent."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from ..support import RunningService

SANDBOX_PAGE = re.compile(r"^http://127\.0\.0\.1:\d+/(sandbox/)?(google|microsoft|unipile)/")
APP_SUCCESS = re.compile(r"^http://127\.0\.0\.1:\d+/success\?")
APP_FAILURE = re.compile(r"^http://127\.0\.0\.1:\d+/failure\?")


def open_link(
    page: Page, service: RunningService, app: Any, shot: Callable[[Page, str], Any], **fields: Any
) -> dict[str, Any]:
    """The app's backend creates a link session; the person opens its URL."""
    fields.setdefault("success_redirect_url", app.success_url)
    fields.setdefault("failure_redirect_url", app.failure_url)
    created = service.create_session(**fields)
    page.goto(created["url"])
    expect(page.locator("h1")).to_be_visible()
    shot(page, "link-page")
    return created


def choose(page: Page, provider: str, shot: Callable[[Page, str], Any]) -> None:
    """Click a provider button and wait for the provider's consent page."""
    page.locator(f'[data-provider="{provider}"]').click()
    page.wait_for_url(SANDBOX_PAGE)
    shot(page, f"{provider}-consent")


def consent(
    page: Page,
    *,
    allow: bool = True,
    untick: tuple[str, ...] = (),
    email: str | None = None,
    shot: Callable[[Page, str], Any] | None = None,
) -> None:
    """Answer the sandbox consent page as a person would: type, untick, press a button."""
    expect(page.get_by_role("button", name="Allow access")).to_be_visible()
    if email:
        page.get_by_label("Account (email address)").fill(email)
    for word in untick:
        boxes = page.locator(f'input[name="scope"][value*="{word}" i]')
        assert boxes.count(), f"no {word!r} permission on the consent page"
        for i in range(boxes.count()):
            boxes.nth(i).uncheck()
    if shot and untick:
        shot(page, "consent-unticked")
    page.get_by_role("button", name="Allow access" if allow else "Deny access").click()
