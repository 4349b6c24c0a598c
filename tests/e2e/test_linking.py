"""Linking accounts in a real browser: every click a person makes, and the ways it goes wrong."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from oauth_service.sandbox import Fault

from .flows import APP_FAILURE, APP_SUCCESS, SANDBOX_PAGE, choose, consent, open_link


def unipile_accounts(sandbox) -> int:
    return len(sandbox.unipile.accounts)


@pytest.mark.parametrize(
    ("provider", "email"), [("google", "ada@example.com"), ("microsoft", "grace@contoso.example")]
)
def test_a_person_links_an_account_by_clicking(service, sandbox, page, app_stand_in, shot, provider, email):
    created = open_link(page, service, app_stand_in, shot)
    choose(page, provider, shot)
    consent(page, email=email)
    page.wait_for_url(APP_SUCCESS)
    shot(page, "app-success")

    params = app_stand_in.params()
    assert params["provider"] == provider
    assert params["state"] == "app-state-xyz"
    assert params["link_session"] == created["id"]
    assert params["account_id"] in sandbox.unipile.accounts
    session = service.session(created["id"])
    assert (session["status"], session["email"]) == ("linked", email)


def test_deny_sends_the_person_back_to_the_app_with_access_denied(service, page, app_stand_in, shot):
    created = open_link(page, service, app_stand_in, shot)
    choose(page, "google", shot)
    consent(page, allow=False)
    page.wait_for_url(APP_FAILURE)
    shot(page, "app-failure")

    params = app_stand_in.params()
    assert params["error"] == "access_denied"
    assert "Allow" in params["error_description"]
    assert service.session(created["id"])["status"] == "failed"


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_an_unticked_calendar_fails_then_the_retry_link_succeeds(
    service, sandbox, page, app_stand_in, shot, provider
):
    created = open_link(page, service, app_stand_in, shot)
    choose(page, provider, shot)
    consent(page, untick=("calendar",), shot=shot)
    page.wait_for_url(APP_FAILURE)
    shot(page, "app-failure-missing-scopes")
    assert app_stand_in.params()["error"] == "missing_scopes"
    assert unipile_accounts(sandbox) == 0

    page.locator("#retry").click()  # the app shows the retry_url it was sent
    expect(page.locator(f'[data-provider="{provider}"]')).to_be_visible()
    shot(page, "link-page-again")
    choose(page, provider, shot)
    consent(page)
    page.wait_for_url(APP_SUCCESS)
    shot(page, "app-success")
    assert service.session(created["id"])["status"] == "linked"
    assert unipile_accounts(sandbox) == 1


def test_the_back_button_after_consent_never_links_twice(service, sandbox, page, shot, app_stand_in):
    created = open_link(page, service, app_stand_in, shot)
    choose(page, "google", shot)
    consent(page)
    page.wait_for_url(APP_SUCCESS)

    page.go_back()  # back to the provider's page, which answers again with the same state
    shot(page, "after-back")
    if SANDBOX_PAGE.match(page.url) and page.get_by_role("button", name="Allow access").count():
        consent(page)
    page.wait_for_load_state()
    shot(page, "after-second-allow")
    # The state was single-use: a branded page saying so, never a second account.
    assert page.url.startswith(service.url)
    expect(page.locator("[data-error]")).to_have_attribute("data-error", "state_invalid")
    assert unipile_accounts(sandbox) == 1
    assert service.session(created["id"])["status"] == "linked"

    first_account = app_stand_in.params(0)["account_id"]
    page.go_back()
    page.go_back()  # all the way to the link page: its owner is sent on to the outcome it had
    page.wait_for_url(APP_SUCCESS)
    shot(page, "link-page-after-linking")
    assert app_stand_in.params()["account_id"] == first_account
    assert unipile_accounts(sandbox) == 1


def test_a_double_click_on_a_provider_button_still_links_once(service, sandbox, page, shot, app_stand_in):
    created = open_link(page, service, app_stand_in, shot)
    page.locator('[data-provider="google"]').dblclick()
    page.wait_for_url(SANDBOX_PAGE)
    shot(page, "consent")
    consent(page)
    page.wait_for_url(APP_SUCCESS)
    shot(page, "app-success")
    assert service.session(created["id"])["status"] == "linked"
    assert unipile_accounts(sandbox) == 1


def test_two_tabs_link_two_accounts_at_once(service, sandbox, context, page, app_stand_in, shot):
    other = context.new_page()
    first = open_link(page, service, app_stand_in, shot, name="user-1")
    second = open_link(other, service, app_stand_in, shot, name="user-2")
    page.bring_to_front()
    choose(page, "google", shot)
    other.bring_to_front()
    choose(other, "microsoft", shot)
    # A person switches tabs to answer each one (a background tab is throttled by Chromium).
    other.bring_to_front()
    consent(other, email="grace@contoso.example")  # the second tab finishes first
    other.wait_for_url(APP_SUCCESS)
    page.bring_to_front()
    consent(page, email="ada@example.com")
    page.wait_for_url(APP_SUCCESS)
    shot(page, "tab-1-success")
    shot(other, "tab-2-success")

    assert service.session(first["id"])["email"] == "ada@example.com"
    assert service.session(second["id"])["email"] == "grace@contoso.example"
    account_ids = {app_stand_in.params(i)["account_id"] for i in range(2)}
    assert len(account_ids) == 2 and account_ids <= set(sandbox.unipile.accounts)


def test_a_slow_unipile_shows_the_finishing_page_then_the_app(
    make_service, sandbox, page, shot, app_stand_in
):
    service = make_service(UPSTREAM_TIMEOUT_SECONDS="1", HANDOFF_RETRY_BASE_SECONDS="1")
    sandbox.unipile.enqueue(Fault.hang(4))  # the first hand-off outlasts our timeout
    created = open_link(page, service, app_stand_in, shot)
    choose(page, "google", shot)
    consent(page)
    page.wait_for_url(re.compile(r"/finishing/"))
    shot(page, "finishing")
    expect(page.locator("h1")).to_have_text("Finishing linking your account…")
    assert "Finishing linking your account" in page.title()
    page.wait_for_url(APP_SUCCESS, timeout=30_000)  # the page moves on by itself
    shot(page, "app-success")
    assert app_stand_in.params()["account_id"] in sandbox.unipile.accounts
    assert len(sandbox.unipile.accounts) == 1
    assert service.session(created["id"])["status"] == "linked"


def test_the_hosted_fallback_links_through_unipiles_wizard(make_service, sandbox, page, shot, app_stand_in):
    service = make_service(UNIPILE_HOSTED_AUTH="v1")
    created = open_link(page, service, app_stand_in, shot)
    page.locator('[data-provider="hosted"]').click()
    page.wait_for_url(SANDBOX_PAGE)
    shot(page, "hosted-wizard")
    page.get_by_label("Email", exact=False).first.fill("ada@example.com")
    page.locator('button[value="google"], input[value="google"]').first.click()
    page.wait_for_url(APP_SUCCESS, timeout=30_000)
    shot(page, "app-success")
    assert service.session(created["id"])["status"] == "linked"
