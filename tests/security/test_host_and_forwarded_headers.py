"""Host and X-Forwarded-* injection: every URL we emit derives from PUBLIC_URL, whatever the
request says about where it was sent (RFC 9700 4.1: exact redirect URIs)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..support import APP_ORIGIN
from .helpers import assert_refused_cleanly, to_callback

EVIL = "evil.example"
SPOOFED = {
    "Host": EVIL,
    "X-Forwarded-Host": EVIL,
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/evil",
    "X-Original-URL": f"https://{EVIL}/",
    "Forwarded": f'host={EVIL};proto=https;for="[2001:db8::1]"',
}


def assert_under_public_url(url: str, public_url: str) -> None:
    assert url.startswith(f"{public_url}/"), url
    assert EVIL not in url


def test_spoofed_host_cannot_change_the_link_url(shared_service, sandbox):
    body = {"name": "u", "success_redirect_url": f"{APP_ORIGIN}/s", "failure_redirect_url": f"{APP_ORIGIN}/f"}
    response = shared_service.api.post("/api/link-sessions", json=body, headers=SPOOFED)
    assert response.status_code == 201, response.text
    assert_under_public_url(response.json()["url"], shared_service.url)
    assert EVIL not in response.headers["location"]
    assert_refused_cleanly(sandbox)


def test_spoofed_host_cannot_change_the_redirect_uri_sent_to_the_provider(service, browser, sandbox):
    created = service.create_session()
    for name in ("google", "microsoft"):
        start = browser.click(browser.open_link(created["url"]), name, headers=SPOOFED)
        assert start.status_code == 302
        redirect_uri = parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"][0]
        assert redirect_uri == f"{service.url}/oauth/{name}/callback"
    assert_refused_cleanly(sandbox)


def test_spoofed_host_cannot_change_the_retry_url_or_the_pages_links(service, browser, sandbox):
    created = service.create_session()
    page = browser.get(created["url"], headers=SPOOFED)
    assert page.status_code == 200 and EVIL not in page.text
    sandbox.google.script(error="access_denied")
    answer = browser.follow(browser.click(page, "google", headers=SPOOFED))
    retry = parse_qs(urlsplit(answer.headers["location"]).query)["retry_url"][0]
    assert_under_public_url(retry, service.url)
    assert_refused_cleanly(sandbox)


def test_spoofed_host_at_the_callback_changes_nothing_of_the_outcome(service, browser, sandbox):
    created, callback = to_callback(service, browser)
    answer = browser.get(callback, headers=SPOOFED)
    assert answer.status_code in (302, 303)
    assert answer.headers["location"].startswith(f"{APP_ORIGIN}/success?")
    # The code was redeemed for the registered redirect URI, not one built from the request.
    (exchange,) = sandbox.google.token_requests
    assert exchange.redirect_uri == f"{service.url}/oauth/google/callback"
    assert service.session(created["id"])["status"] == "linked"


def test_forwarded_https_does_not_change_cookie_security_or_hsts(service, browser, sandbox):
    # Served on plain-http loopback: a request claiming https must not switch cookie names or HSTS.
    created = service.create_session()
    page = browser.get(created["url"], headers={"X-Forwarded-Proto": "https"})
    assert page.headers["set-cookie"].startswith("oauth_binding=")
    assert "strict-transport-security" not in page.headers
    assert_refused_cleanly(sandbox)
