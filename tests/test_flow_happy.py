"""Both providers' whole flow: the authorization request, Unipile's body, the redirect back."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from oauth_service.sandbox import SandboxUser

from .support import APP_ORIGIN, link, provider_href


def authorization_request(service, browser, provider: str, **fields) -> dict[str, str]:
    created = service.create_session(**fields)
    page = browser.open_link(created["url"])
    start = browser.get(urljoin(str(page.url), provider_href(page.text, provider)))
    assert start.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}


def unipile_posts(sandbox) -> list:
    return [r for r in sandbox.unipile.requests if r.method == "POST" and "/accounts" in r.path]


def test_google_is_asked_for_offline_consent_with_pkce_nonce_and_login_hint(service, browser):
    q = authorization_request(service, browser, "google", login_hint="ada@example.com")
    assert q["access_type"] == "offline"
    assert q["prompt"] == "consent"
    assert q["include_granted_scopes"] == "true"
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["nonce"] and q["state"]
    assert q["login_hint"] == "ada@example.com"
    assert q["redirect_uri"] == f"{service.url}/oauth/google/callback"
    assert set(q["scope"].split()) == {
        "openid", "email", "profile", "https://www.googleapis.com/auth/calendar"
    }


def test_microsoft_is_asked_for_offline_access_and_mail_scopes_when_mail_is_wanted(service, browser):
    q = authorization_request(service, browser, "microsoft", features=["calendar", "mail"])
    scopes = set(q["scope"].split())
    assert {"offline_access", "https://graph.microsoft.com/User.Read",
            "https://graph.microsoft.com/Calendars.ReadWrite",
            "https://graph.microsoft.com/Mail.ReadWrite",
            "https://graph.microsoft.com/Mail.Send"} <= scopes
    assert "access_type" not in q
    assert q["code_challenge_method"] == "S256"
    assert q["redirect_uri"] == f"{service.url}/oauth/microsoft/callback"


def test_google_links_and_sends_the_browser_back_with_the_account(service, browser, sandbox):
    created, outcome = link(service, browser, "google", email="ada@example.com")
    assert outcome.url.startswith(f"{APP_ORIGIN}/success?")
    assert outcome.params["provider"] == "google"
    assert outcome.params["state"] == "app-state-xyz"
    assert outcome.params["link_session"] == created["id"]

    (post,) = unipile_posts(sandbox)
    assert post.path.endswith("/api/v1/accounts")
    assert set(post.json) == {"provider", "access_token", "refresh_token"}
    assert post.json["provider"] == "GOOGLE_OAUTH"
    assert sandbox.google.is_valid_access_token(post.json["access_token"])
    assert sandbox.google.is_valid_refresh_token(post.json["refresh_token"])
    assert outcome.params["account_id"] in sandbox.unipile.accounts

    status = service.session(created["id"])
    assert status["status"] == "linked"
    assert status["account_id"] == outcome.params["account_id"]
    assert status["email"] == "ada@example.com"
    assert status["provider"] == "google"
    assert status["error"] is None


def test_microsoft_links_with_graph_id_and_mailbox(service, browser, sandbox):
    user = sandbox.microsoft.add_user(SandboxUser(email="grace@contoso.example"))
    created, outcome = link(service, browser, "microsoft", email=user.email)
    assert outcome.ok and outcome.params["provider"] == "microsoft"
    (post,) = unipile_posts(sandbox)
    assert post.json["provider"] == "OUTLOOK"
    assert set(post.json) == {"provider", "access_token", "refresh_token", "id", "username"}
    assert post.json["id"] == user.oid
    assert post.json["username"] == "grace@contoso.example"
    assert service.session(created["id"])["status"] == "linked"


def test_microsoft_personal_account_without_mail_uses_the_user_principal_name(
    service, browser, sandbox
):
    user = sandbox.microsoft.add_user(SandboxUser.personal("sam@outlook.example"))
    assert user.mail is None
    _, outcome = link(service, browser, "microsoft", email=user.email)
    assert outcome.ok
    (post,) = unipile_posts(sandbox)
    assert post.json["username"] == user.upn


def test_reconnect_posts_to_the_existing_account(service, browser, sandbox):
    _, first = link(service, browser, "google", email="ada@example.com")
    account_id = first.params["account_id"]
    created, outcome = link(
        service, browser, "google", email="ada@example.com", reconnect_account=account_id
    )
    assert outcome.ok and outcome.params["account_id"] == account_id
    posts = unipile_posts(sandbox)
    assert posts[-1].path.endswith(f"/api/v1/accounts/{account_id}")
    assert len(sandbox.unipile.accounts) == 1
    assert service.session(created["id"])["status"] == "linked"


def test_google_token_with_the_bare_issuer_spelling_is_accepted(service, browser, sandbox):
    sandbox.google.script(iss_spelling="bare")
    _, outcome = link(service, browser, "google")
    assert outcome.ok


def test_a_key_rotation_at_the_provider_is_followed(service, browser, sandbox):
    _, first = link(service, browser, "google")
    sandbox.google.rotate_keys(keep_old=False)
    # The cached JWKS no longer holds the signing key: one refresh, then it verifies.
    _, second = link(service, browser, "google")
    assert first.ok and second.ok


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_the_link_page_offers_each_configured_provider_with_branding(service, browser, provider):
    created = service.create_session()
    page = browser.open_link(created["url"])
    assert f'data-provider="{provider}"' in page.text
    assert "Acme Calendar" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_the_link_page_offers_only_the_providers_the_session_allows(service, browser):
    created = service.create_session(providers=["microsoft"])
    page = browser.open_link(created["url"])
    assert 'data-provider="microsoft"' in page.text
    assert 'data-provider="google"' not in page.text
