"""Forged and misdirected ID tokens (OpenID Connect Core 3.1.3.7): nothing links on one.

The code exchange happens (that is where an ID token comes from), but the tokens it yields
are dropped: Unipile is never called.
"""

from __future__ import annotations

import time

import pytest

from ..support import link
from .helpers import assert_no_unipile_call

PROVIDERS = ["google", "microsoft"]
OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def refused(service, browser, sandbox, provider: str, **behaviour) -> None:
    getattr(sandbox, provider).script(**behaviour)
    _, outcome = link(service, browser, provider)
    assert outcome.params.get("error") == "id_token_invalid", outcome.url
    assert_no_unipile_call(sandbox)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_for_another_audience_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"aud": "someone-elses-client"})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_for_several_audiences_with_another_azp_is_refused(service, browser, sandbox, provider):
    client_id = service.settings.providers[provider].client_id
    refused(
        service, browser, sandbox, provider,
        id_token_claims={"aud": [client_id, "someone-else"], "azp": "someone-else"},
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_from_another_issuer_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"iss": "https://attacker.example"})


def test_google_id_token_with_microsofts_issuer_is_refused(service, browser, sandbox):
    refused(service, browser, sandbox, "google", id_token_claims={"iss": "https://login.microsoftonline.com/x/v2.0"})


def test_microsoft_issuer_template_filled_with_another_tenant_is_refused(service, browser, sandbox):
    # iss names tenant B while the token's tid is tenant A: the template is filled from tid only.
    refused(
        service, browser, sandbox, "microsoft",
        id_token_claims={"iss": f"{sandbox.microsoft.base_url}/{OTHER_TENANT}/v2.0"},
    )


def test_microsoft_tid_of_another_tenant_than_the_issuer_is_refused(service, browser, sandbox):
    refused(service, browser, sandbox, "microsoft", id_token_claims={"tid": OTHER_TENANT})


def test_microsoft_id_token_without_tid_is_refused(service, browser, sandbox):
    refused(service, browser, sandbox, "microsoft", id_token_claims={"tid": None})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_with_a_wrong_nonce_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"nonce": "a-nonce-of-another-flow"})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_without_a_nonce_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"nonce": None})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_id_token_is_refused(service, browser, sandbox, provider):
    now = int(time.time())
    refused(service, browser, sandbox, provider, id_token_claims={"exp": now - 600, "iat": now - 4200})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_not_valid_yet_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"nbf": int(time.time()) + 3600})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_issued_in_the_future_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"iat": int(time.time()) + 3600})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unsigned_id_token_alg_none_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, sign="none")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_hs256_signed_with_the_public_key_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, sign="hs256_with_public_key")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_with_a_tampered_signature_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, sign="tampered")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_id_token_without_exp_or_sub_is_refused(service, browser, sandbox, provider):
    refused(service, browser, sandbox, provider, id_token_claims={"exp": None})
    refused(service, browser, sandbox, provider, id_token_claims={"sub": None})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_kid_refreshes_the_jwks_once_then_is_refused(service, browser, sandbox, provider):
    p = getattr(sandbox, provider)
    refused(service, browser, sandbox, provider, sign="unknown_key")
    # One fetch to load the keys, one refresh for the unknown kid, no more.
    assert p.fetch_counts["jwks"] == 2, p.fetch_counts
    # The same stranger again: refused without hammering the provider's JWKS.
    refused(service, browser, sandbox, provider, sign="unknown_key")
    assert p.fetch_counts["jwks"] == 2, p.fetch_counts


@pytest.mark.parametrize("provider", PROVIDERS)
def test_key_rotated_by_the_provider_is_picked_up(service, browser, sandbox, provider):
    # The control for the kid test: a real rotation is followed, so the refusal above is the kid's.
    p = getattr(sandbox, provider)
    assert link(service, browser, provider)[1].ok
    p.rotate_keys()
    assert link(service, browser, provider)[1].ok
    assert p.fetch_counts["jwks"] == 2
