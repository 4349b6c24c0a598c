"""The Google and Microsoft stand-ins speak OpenID Connect's code flow with PKCE."""

from __future__ import annotations

import time

import httpx2
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from oauth_service.sandbox import PERSONAL_TENANT_ID, SANDBOX_TENANT_ID, Sandbox
from oauth_service.sandbox.driver import consent, parse_form

from .oauth_client import CLIENTS, OAuthClient, query_of

CALENDAR = "https://www.googleapis.com/auth/calendar"


def verify(http: httpx2.Client, jwks_url: str, token: str) -> dict:
    keys = KeySet.import_key_set(http.get(jwks_url).json())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


def test_index_page_says_sandbox(http: httpx2.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200 and "SANDBOX" in page.text


def test_google_discovery(http: httpx2.Client, sandbox: Sandbox, server) -> None:
    doc = http.get("/google/.well-known/openid-configuration").json()
    base = server.url
    assert doc["issuer"] == f"{base}/google"
    assert doc["authorization_endpoint"] == f"{base}/google/o/oauth2/v2/auth"
    assert doc["token_endpoint"] == f"{base}/google/token"
    assert doc["jwks_uri"] == f"{base}/google/oauth2/v3/certs"
    assert doc["revocation_endpoint"] == f"{base}/google/revoke"
    assert set(doc["code_challenge_methods_supported"]) == {"S256", "plain"}
    http.get(doc["jwks_uri"])
    assert sandbox.google.fetch_counts == {"discovery": 1, "jwks": 1}


@pytest.mark.parametrize(
    ("tenant", "issuer"),
    [
        ("common", "{tenantid}"),
        ("organizations", "{tenantid}"),
        ("consumers", PERSONAL_TENANT_ID),
        (SANDBOX_TENANT_ID, SANDBOX_TENANT_ID),
    ],
)
def test_microsoft_discovery_per_tenant(http: httpx2.Client, server, tenant: str, issuer: str) -> None:
    doc = http.get(f"/microsoft/{tenant}/v2.0/.well-known/openid-configuration").json()
    base = f"{server.url}/microsoft"
    assert doc["issuer"] == f"{base}/{issuer}/v2.0"
    assert doc["authorization_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{base}/{tenant}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{base}/{tenant}/discovery/v2.0/keys"


def test_microsoft_unknown_tenant_is_refused(http: httpx2.Client) -> None:
    response = http.get("/microsoft/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400 and response.json()["error"] == "invalid_tenant"


def test_consent_page_is_a_usable_form(http: httpx2.Client, oauth: OAuthClient) -> None:
    page = http.get(oauth.authorize("google", login_hint="lin@example.com").url)
    assert page.status_code == 200 and "SANDBOX" in page.text
    form = parse_form(page.text, str(page.url))
    assert form.fields["email"] == "lin@example.com" and form.fields["request_id"]
    assert form.checkboxes["scope"] == ["openid", "email", "profile", CALENDAR]
    assert ("decision", "allow") in form.buttons and ("decision", "deny") in form.buttons
    assert 'for="scope-4"' in page.text and CLIENTS["google"][0] in page.text


def test_google_code_flow_with_pkce(
    http: httpx2.Client, oauth: OAuthClient, sandbox: Sandbox, server
) -> None:
    authorization = oauth.authorize("google")
    answer = query_of(consent(http, authorization.url))
    assert answer["state"] == authorization.state and "iss" not in answer

    wrong = oauth.exchange("google", answer["code"], "x" * 43)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    good = oauth.exchange("google", answer["code"], authorization.verifier, basic=True)
    assert good.status_code == 200, good.text

    tokens = good.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599
    assert tokens["scope"].split() == [
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        CALENDAR,
    ]
    assert sandbox.google.is_valid_access_token(tokens["access_token"])
    assert sandbox.google.is_valid_refresh_token(tokens["refresh_token"])
    claims = verify(http, f"{server.url}/google/oauth2/v3/certs", tokens["id_token"])
    assert claims["iss"] == f"{server.url}/google"
    assert claims["aud"] == CLIENTS["google"][0]
    assert claims["nonce"] == authorization.nonce
    assert claims["email"] == "ada@example.com" and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600

    again = oauth.exchange("google", answer["code"], authorization.verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # Replaying a code revokes what it had yielded (RFC 6749 section 4.1.2).
    assert not sandbox.google.is_valid_access_token(tokens["access_token"])
    methods = [(r.auth_method, r.status_code) for r in sandbox.google.token_requests]
    assert methods == [("client_secret_post", 400), ("client_secret_basic", 200), ("client_secret_post", 400)]


def test_token_endpoint_checks_client_and_redirect_uri(oauth: OAuthClient, http: httpx2.Client) -> None:
    authorization = oauth.authorize("google")
    code = query_of(consent(http, authorization.url))["code"]
    bad_secret = oauth.exchange("google", code, authorization.verifier, client_secret="nope")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    other_uri = oauth.exchange("google", code, authorization.verifier, redirect_uri="http://x/cb")
    assert other_uri.status_code == 400 and other_uri.json()["error"] == "invalid_grant"
    no_verifier = oauth.exchange("google", code, None)
    assert no_verifier.status_code == 400
    assert oauth.exchange("google", code, authorization.verifier).status_code == 200


def test_codes_expire_after_ten_minutes(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox) -> None:
    authorization = oauth.authorize("google")
    code = query_of(consent(http, authorization.url))["code"]
    sandbox.google.advance_clock(601)
    expired = oauth.exchange("google", code, authorization.verifier)
    assert expired.status_code == 400 and "expired" in expired.json()["error_description"]


def test_unregistered_client_or_redirect_uri_gets_a_page_not_a_redirect(
    oauth: OAuthClient, http: httpx2.Client
) -> None:
    for params in ({"client_id": "stranger"}, {"redirect_uri": "http://evil.example/cb"}):
        page = http.get(oauth.authorize("google", **params).url)
        assert page.status_code == 400 and "SANDBOX" in page.text
        assert "location" not in page.headers


@pytest.mark.parametrize("method", ["plain", None])
def test_pkce_s256_is_required(oauth: OAuthClient, http: httpx2.Client, method: str | None) -> None:
    authorization = oauth.authorize("google", code_challenge_method=method)
    answer = query_of(http.get(authorization.url))
    assert answer["error"] == "invalid_request" and answer["state"] == authorization.state


def test_deny_redirects_with_access_denied(oauth: OAuthClient, http: httpx2.Client) -> None:
    authorization = oauth.authorize("microsoft")
    answer = query_of(consent(http, authorization.url, decision="deny"))
    assert answer["error"] == "access_denied" and answer["state"] == authorization.state
    assert answer["error_description"]


def test_unticked_scope_is_not_granted(oauth: OAuthClient) -> None:
    tokens = oauth.tokens("google", untick=(CALENDAR,))
    assert CALENDAR not in tokens["scope"].split()


def test_google_refresh_token_needs_offline_and_consent(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    assert "refresh_token" not in oauth.tokens("google", prompt=None)
    assert "refresh_token" not in oauth.tokens("google", access_type=None)
    tokens = oauth.tokens("google")
    refreshed = http.post(
        oauth.token_url("google"),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=CLIENTS["google"],
    )
    assert refreshed.status_code == 200
    assert sandbox.google.is_valid_access_token(refreshed.json()["access_token"])
    assert "refresh_token" not in refreshed.json()
    assert http.post("/google/revoke", data={"token": tokens["refresh_token"]}).status_code == 200
    assert not sandbox.google.is_valid_refresh_token(tokens["refresh_token"])


def test_google_userinfo(oauth: OAuthClient, http: httpx2.Client) -> None:
    tokens = oauth.tokens("google", email="lin@example.com")
    info = http.get("/google/v1/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["email"] == "lin@example.com"
    assert http.get("/google/v1/userinfo").status_code == 401


def test_microsoft_id_token_and_refresh_rule(oauth: OAuthClient, http: httpx2.Client, server) -> None:
    authorization = oauth.authorize("microsoft", tenant="organizations")
    answer = query_of(consent(http, authorization.url))
    assert answer["session_state"] and "iss" not in answer
    tokens = oauth.exchange(
        "microsoft", answer["code"], authorization.verifier, tenant="organizations"
    ).json()
    assert "refresh_token" in tokens
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in tokens["scope"].split()
    keys = f"{server.url}/microsoft/organizations/discovery/v2.0/keys"
    claims = verify(http, keys, tokens["id_token"])
    assert claims["tid"] == SANDBOX_TENANT_ID
    assert claims["iss"] == f"{server.url}/microsoft/{SANDBOX_TENANT_ID}/v2.0"
    assert claims["aud"] == CLIENTS["microsoft"][0] and claims["nonce"] == authorization.nonce
    assert claims["preferred_username"] == "grace@contoso.example" and claims["oid"]
    assert "refresh_token" not in oauth.tokens("microsoft", untick=("offline_access",))


def test_microsoft_personal_account(oauth: OAuthClient, http: httpx2.Client, server) -> None:
    tokens = oauth.tokens("microsoft", tenant="consumers", email="kim@hotmail.com")
    claims = verify(http, f"{server.url}/microsoft/consumers/discovery/v2.0/keys", tokens["id_token"])
    assert claims["tid"] == PERSONAL_TENANT_ID and claims["email"] == "kim@hotmail.com"


def test_scripted_authorize_error_skips_consent(
    oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox
) -> None:
    sandbox.google.script(error="admin_policy_enforced", error_description="Blocked by admin")
    authorization = oauth.authorize("google")
    answer = query_of(http.get(authorization.url))
    assert answer == {
        "error": "admin_policy_enforced",
        "error_description": "Blocked by admin",
        "state": authorization.state,
    }
    assert http.get(oauth.authorize("google").url).status_code == 200  # used once


@pytest.mark.parametrize("sign", ["none", "hs256_with_public_key", "unknown_key", "tampered"])
def test_forged_id_tokens_fail_verification(oauth: OAuthClient, http, sandbox: Sandbox, server, sign) -> None:
    sandbox.microsoft.script(sign=sign)
    tokens = oauth.tokens("microsoft")
    with pytest.raises((JoseError, ValueError)):
        verify(http, f"{server.url}/microsoft/common/discovery/v2.0/keys", tokens["id_token"])


def test_scripted_claims_issuer_spelling_and_authorize_iss(oauth: OAuthClient, http, sandbox, server) -> None:
    sandbox.google.script(id_token_claims={"aud": "other", "email": None}, iss_spelling="bare")
    claims = verify(http, f"{server.url}/google/oauth2/v3/certs", oauth.tokens("google")["id_token"])
    assert claims["aud"] == "other" and "email" not in claims
    assert claims["iss"] == f"{server.url}/google".split("://")[1]

    sandbox.google.script(authorize_iss=True)
    assert query_of(consent(http, oauth.authorize("google").url))["iss"] == f"{server.url}/google"
    sandbox.google.script(authorize_iss="http://wrong")
    assert query_of(consent(http, oauth.authorize("google").url))["iss"] == "http://wrong"


def test_scripted_token_answers(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox) -> None:
    sandbox.google.script(omit_refresh_token=True)
    assert "refresh_token" not in oauth.tokens("google")

    sandbox.google.script(token_error=(400, {"error": "invalid_grant"}))
    authorization = oauth.authorize("google")
    code = query_of(consent(http, authorization.url))["code"]
    failed = oauth.exchange("google", code, authorization.verifier)
    assert failed.status_code == 400 and failed.json() == {"error": "invalid_grant"}

    sandbox.google.script(token_latency=0.3, auto_approve=True)
    authorization = oauth.authorize("google")
    answer = query_of(http.get(authorization.url))
    started = time.monotonic()
    assert oauth.exchange("google", answer["code"], authorization.verifier).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_key_rotation(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox, server) -> None:
    old = sandbox.google.keys.kid
    new = sandbox.google.rotate_keys()
    kids = [key["kid"] for key in http.get("/google/oauth2/v3/certs").json()["keys"]]
    assert kids == [new, old]
    sandbox.google.rotate_keys(keep_old=False)
    assert len(http.get("/google/oauth2/v3/certs").json()["keys"]) == 1
    verify(http, f"{server.url}/google/oauth2/v3/certs", oauth.tokens("google")["id_token"])


def test_reset_keeps_clients_and_forgets_the_rest(oauth: OAuthClient, sandbox: Sandbox) -> None:
    tokens = oauth.tokens("google")
    sandbox.google.script(error="server_error")
    sandbox.reset()
    assert not sandbox.google.is_valid_access_token(tokens["access_token"])
    assert not sandbox.google.token_requests
    assert "refresh_token" in oauth.tokens("google")
