"""Authorization code injection (RFC 9700 4.5) and PKCE (RFC 7636): a code is only ever
redeemed with the verifier of the flow that requested it, and that verifier never leaves us."""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from .helpers import (
    assert_failure_redirect,
    assert_no_successful_exchange,
    assert_no_unipile_call,
    code_verifiers,
    s256,
    to_callback,
)


def with_code(callback: str, code: str) -> str:
    parts = urlsplit(callback)
    query = [(k, code if k == "code" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def code_of(callback: str) -> str:
    return parse_qs(urlsplit(callback).query)["code"][0]


def test_code_from_one_flow_with_another_flows_state_is_refused(service, browser, other_browser, sandbox):
    # The attacker got the victim's code (leaked log, Referer, malicious app) and injects it into
    # a flow of their own: their state, their cookie, the victim's code.
    _, victims = to_callback(service, browser)
    _, attackers = to_callback(service, other_browser)
    answer = other_browser.get(with_code(attackers, code_of(victims)))
    # Redeemed with the attacker's flow's verifier, the victim's code is refused by PKCE.
    assert_failure_redirect(answer, "provider_error")
    (exchange,) = sandbox.google.token_requests
    assert exchange.code_verifier_sent and exchange.status_code == 400
    assert exchange.error == "invalid_grant"
    assert_no_successful_exchange(sandbox)
    assert_no_unipile_call(sandbox)


def test_we_only_ever_send_the_verifier_matching_the_challenge(service, browser, sandbox):
    # The sandbox refuses a missing or wrong verifier (invalid_grant), so a 200 exchange with
    # code_verifier_sent is the proof; the challenge in the authorize URL is S256(verifier).
    for provider in ("google", "microsoft"):
        _, callback = to_callback(service, browser, provider)
        assert browser.finish(browser.get(callback)).ok
    exchanges = sandbox.google.token_requests + sandbox.microsoft.token_requests
    assert len(exchanges) == 2
    assert all(e.code_verifier_sent and e.status_code == 200 for e in exchanges), exchanges
    authorize_urls = [s.url for s in browser.seen if "code_challenge=" in s.url]
    challenges = {parse_qs(urlsplit(u).query)["code_challenge"][0] for u in authorize_urls}
    assert {parse_qs(urlsplit(u).query)["code_challenge_method"][0] for u in authorize_urls} == {"S256"}
    verifiers = code_verifiers(service)
    assert len(verifiers) == 2 and challenges == {s256(v) for v in verifiers}


def test_the_verifier_never_appears_in_a_url_or_a_page(service, browser, sandbox):
    for provider in ("google", "microsoft"):
        _, callback = to_callback(service, browser, provider)
        browser.finish(browser.get(callback))
    verifiers = code_verifiers(service)
    assert verifiers
    for seen in browser.seen:
        for verifier in verifiers:
            assert verifier not in seen.url
            assert verifier not in seen.text
            assert all(verifier not in v for v in seen.headers.values())
