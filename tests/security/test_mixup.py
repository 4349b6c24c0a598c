"""Mix-up attacks (RFC 9700 4.4, RFC 9207): an answer meant for one provider presented to another.

The state names the provider it was issued for, and an `iss` in the authorization response,
where one is sent, must be that provider's issuer.
"""

from __future__ import annotations

import pytest

from .helpers import assert_error_page, assert_failure_redirect, assert_refused_cleanly, to_callback


@pytest.mark.parametrize(("issued_for", "presented_at"), [("google", "microsoft"), ("microsoft", "google")])
def test_state_issued_for_one_provider_at_the_others_callback_is_refused(
    service, browser, sandbox, issued_for, presented_at
):
    _, callback = to_callback(service, browser, issued_for)
    mixed = callback.replace(f"/oauth/{issued_for}/", f"/oauth/{presented_at}/")
    assert_error_page(browser.get(mixed), "state_invalid")
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_iss_of_an_attacker_in_the_authorization_response_is_refused(service, browser, sandbox, provider):
    getattr(sandbox, provider).script(authorize_iss="https://attacker.example")
    _, callback = to_callback(service, browser, provider)
    assert_failure_redirect(browser.get(callback), "state_invalid")
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize(("provider", "other"), [("google", "microsoft"), ("microsoft", "google")])
def test_iss_of_the_other_provider_in_the_authorization_response_is_refused(
    service, browser, sandbox, provider, other
):
    other_issuer = getattr(sandbox, other).issuer("common" if other == "microsoft" else "")
    other_issuer = other_issuer.replace("{tenantid}", "9188040d-6c67-4c5b-b112-36a304b66dad")
    getattr(sandbox, provider).script(authorize_iss=other_issuer)
    _, callback = to_callback(service, browser, provider)
    assert_failure_redirect(browser.get(callback), "state_invalid")
    assert_refused_cleanly(sandbox)


def test_iss_on_an_error_response_is_checked_before_the_error_is_believed(service, browser, sandbox):
    # A mixed-up error answer must not be relayed as the provider's own words (RFC 9207 2.4).
    sandbox.google.script(
        error="server_error", error_description="call +1-555-SCAM", authorize_iss="https://attacker.example"
    )
    created = service.create_session()
    answer = browser.follow(browser.click(browser.open_link(created["url"]), "google"))
    assert_failure_redirect(answer, "state_invalid")
    assert "SCAM" not in answer.headers["location"]
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_genuine_iss_is_accepted(service, browser, sandbox, provider):
    # The control: the defence refuses only what it should. (Microsoft's common endpoint names
    # the user's own tenant, never the `{tenantid}` template.)
    p = getattr(sandbox, provider)
    p.script(authorize_iss=True if provider == "google" else p.token_issuer(p.user(p.default_email)))
    _, callback = to_callback(service, browser, provider)
    assert browser.finish(browser.get(callback)).ok
