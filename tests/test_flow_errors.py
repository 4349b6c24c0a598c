"""Every documented failure, produced the way it happens, ending where a person understands it.

A failure with a trustworthy link session ends on the app's failure URL with its code; one
without (forged, replayed, other browser) ends on a branded 400 page and changes nothing.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin

import pytest

from oauth_service.sandbox import Fault

from .support import APP_ORIGIN, link, sql


def to_callback(service, browser, provider="google", *, untick=(), **fields):
    """Open a link, choose, consent; answers (session, the provider's redirect to our callback)."""
    created = service.create_session(**fields)
    page = browser.open_link(created["url"])
    consent = browser.choose(page, provider)
    redirect = browser.consent(consent, untick=untick)
    assert redirect.status_code in (302, 303)
    return created, urljoin(str(redirect.url), redirect.headers["location"])


def failure(outcome, code: str) -> dict[str, str]:
    assert outcome.url.startswith(f"{APP_ORIGIN}/failure?"), outcome.url
    assert outcome.params["error"] == code, outcome.params
    assert outcome.params["state"] == "app-state-xyz"
    assert outcome.params["error_description"]
    return outcome.params


def assert_error_page(response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-error="{code}"' in response.text
    assert "Traceback" not in response.text
    assert "Acme Calendar" in response.text


def unipile_posts(sandbox) -> list:
    return [r for r in sandbox.unipile.requests if r.method == "POST"]


def test_user_declines_gives_access_denied_and_a_retry_url(service, browser, sandbox):
    created, outcome = link(service, browser, "google", allow=False)
    params = failure(outcome, "access_denied")
    assert params["link_session"] == created["id"]
    assert params["retry_url"].startswith(f"{service.url}/link/")
    status = service.session(created["id"])
    assert status["status"] == "failed" and status["error"] == "access_denied"
    assert not sandbox.google.token_requests and not unipile_posts(sandbox)


def test_unticked_calendar_gives_missing_scopes_then_a_retry_links(service, browser, sandbox):
    created, outcome = link(service, browser, "google", untick=("calendar",))
    params = failure(outcome, "missing_scopes")
    assert "calendar" in params["error_description"]
    assert not unipile_posts(sandbox)
    # The person follows the retry link, keeps the box ticked this time, and it links.
    page = browser.open_link(params["retry_url"])
    retried = browser.finish(browser.consent(browser.choose(page, "google")))
    assert retried.ok and retried.params["link_session"] == created["id"]
    assert service.session(created["id"])["status"] == "linked"


def test_unticked_mail_scope_on_microsoft_gives_missing_scopes(service, browser, sandbox):
    _, outcome = link(service, browser, "microsoft", features=["calendar", "mail"], untick=("Mail.Send",))
    assert "mail" in failure(outcome, "missing_scopes")["error_description"]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_no_refresh_token_is_refused_before_unipile(service, browser, sandbox, provider):
    getattr(sandbox, provider).script(omit_refresh_token=True)
    _, outcome = link(service, browser, provider)
    failure(outcome, "no_refresh_token")
    assert not unipile_posts(sandbox)


@pytest.mark.parametrize(
    ("provider", "error", "description"),
    [
        ("google", "admin_policy_enforced", "The Google Account is unable to authorize..."),
        ("microsoft", "access_denied", "AADSTS90094: An administrator of Contoso has set a policy..."),
        ("microsoft", "consent_required", "AADSTS65001: The user or administrator has not consented"),
    ],
)
def test_organisation_policy_gives_admin_consent_required(
    service, browser, sandbox, provider, error, description
):
    getattr(sandbox, provider).script(error=error, error_description=description)
    created = service.create_session()
    outcome = browser.finish(browser.click(browser.open_link(created["url"]), provider))
    params = failure(outcome, "admin_consent_required")
    assert "IT administrator" in params["error_description"]


def test_provider_error_at_the_authorize_step(service, browser, sandbox):
    sandbox.google.script(error="server_error", error_description="<b>oops</b>")
    created = service.create_session()
    outcome = browser.finish(browser.click(browser.open_link(created["url"]), "google"))
    assert "oops" in failure(outcome, "provider_error")["error_description"]


def test_token_endpoint_refusal_is_provider_error(service, browser, sandbox):
    sandbox.google.script(token_error=(400, {"error": "invalid_grant"}))
    _, outcome = link(service, browser, "google")
    assert "invalid_grant" in failure(outcome, "provider_error")["error_description"]
    assert not unipile_posts(sandbox)


@pytest.mark.parametrize(
    "behaviour",
    [
        {"id_token_claims": {"aud": "someone-else"}},
        {"id_token_claims": {"nonce": "not-the-flows-nonce"}},
        {"id_token_claims": {"nonce": None}},
        {"id_token_claims": {"iss": "https://evil.example"}},
        {"sign": "none"},
        {"sign": "tampered"},
        {"sign": "unknown_key"},
        {"sign": "hs256_with_public_key"},
    ],
)
def test_an_id_token_that_fails_validation_links_nothing(service, browser, sandbox, behaviour):
    sandbox.microsoft.script(**behaviour)
    _, outcome = link(service, browser, "microsoft")
    failure(outcome, "id_token_invalid")
    assert not unipile_posts(sandbox)


def test_microsoft_issuer_filled_with_another_tenant_is_refused(service, browser, sandbox):
    # A well-formed issuer of the same provider, filled with a tenant other than the token's tid.
    other_tenant = "00000000-0000-0000-0000-000000000000"
    sandbox.microsoft.script(id_token_claims={"iss": f"{sandbox.microsoft.base_url}/{other_tenant}/v2.0"})
    _, outcome = link(service, browser, "microsoft")
    failure(outcome, "id_token_invalid")


def test_forged_state_gets_an_error_page_and_no_exchange(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    forged = callback.replace("state=", "state=x")
    assert_error_page(browser.get(forged), "state_invalid")
    assert_error_page(browser.get(f"{service.url}/oauth/google/callback"), "state_invalid")
    assert not sandbox.google.token_requests and not unipile_posts(sandbox)


def test_replayed_callback_is_refused_and_links_once(service, browser, sandbox):
    created, callback = to_callback(service, browser)
    first = browser.finish(browser.get(callback))
    assert first.ok
    assert_error_page(browser.get(callback), "state_invalid")
    assert len(unipile_posts(sandbox)) == 1
    assert service.session(created["id"])["status"] == "linked"


def test_state_from_google_at_the_microsoft_callback_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser, "google")
    mixed = callback.replace("/oauth/google/", "/oauth/microsoft/")
    assert_error_page(browser.get(mixed), "state_invalid")
    assert not sandbox.microsoft.token_requests and not sandbox.google.token_requests


def test_callback_in_another_browser_is_refused_and_burns_nothing(
    service, browser, other_browser, sandbox
):
    _, callback = to_callback(service, browser)
    assert_error_page(other_browser.get(callback), "browser_mismatch")
    assert not sandbox.google.token_requests
    # The person who started it can still finish.
    assert browser.finish(browser.get(callback)).ok


def test_link_opened_in_a_second_browser_after_the_first_started_is_refused(service, browser, other_browser):
    created = service.create_session()
    browser.click(browser.open_link(created["url"]), "google")
    assert_error_page(other_browser.get(created["url"]), "browser_mismatch", 403)


def test_a_slow_consent_expires_the_state(make_service, browser, sandbox):
    service = make_service(STATE_TTL_SECONDS="1")
    created, callback = to_callback(service, browser)
    time.sleep(2.2)
    outcome = browser.finish(browser.get(callback))
    failure(outcome, "state_expired")
    assert not sandbox.google.token_requests
    assert service.session(created["id"])["error"] == "state_expired"


def expire(service, session_id: str) -> None:
    """Move a session's expiry into the past, as the clock would."""
    sql(service, "UPDATE link_sessions SET expires_at = :t WHERE id = :id", t=time.time() - 1, id=session_id)


def test_session_expiring_during_consent_gives_session_expired(service, browser, sandbox):
    created, callback = to_callback(service, browser)
    expire(service, created["id"])
    failure(browser.finish(browser.get(callback)), "session_expired")
    assert not unipile_posts(sandbox)
    assert service.session(created["id"])["status"] in ("expired", "failed")


def test_expired_or_used_link_shows_a_page(service, browser):
    created = service.create_session()
    expire(service, created["id"])
    assert_error_page(browser.get(created["url"]), "session_expired", 410)
    assert service.session(created["id"])["status"] == "expired"


def test_link_reused_after_it_linked_starts_nothing(service, browser, other_browser, sandbox):
    created, outcome = link(service, browser, "google")
    assert outcome.ok
    # Its own browser coming back is shown where it ended; no new flow can start.
    again = browser.get(created["url"])
    assert again.status_code == 303 and again.headers["location"] == outcome.url
    assert_error_page(browser.get(created["url"] + "/google"), "session_expired", 410)
    assert_error_page(other_browser.get(created["url"]), "session_expired", 410)
    assert len(sandbox.google.token_requests) == 1


def test_unipile_refusal_keeps_its_words_and_no_token(service, browser, sandbox):
    sandbox.unipile.enqueue(
        Fault.status(400, body={"status": 400, "type": "errors/invalid_credentials",
                                "title": "Invalid credentials", "detail": "The token was refused."})
    )
    created, outcome = link(service, browser, "google")
    params = failure(outcome, "unipile_rejected")
    assert "Invalid credentials" in params["error_description"]
    assert "The token was refused." in params["error_description"]
    (post,) = unipile_posts(sandbox)
    assert post.json["access_token"] not in outcome.url
    assert post.json["refresh_token"] not in outcome.url
    assert service.session(created["id"])["error"] == "unipile_rejected"


def test_garbage_link_token_is_a_branded_404(service, browser):
    assert_error_page(browser.get(f"{service.url}/link/not-a-token"), "not_found", 404)
    assert_error_page(browser.get(f"{service.url}/nowhere"), "not_found", 404)
