"""Security headers on every answer we send, error pages and the API included."""

from __future__ import annotations

import httpx2
import pytest

from ..support import sql
from .helpers import to_callback

REQUIRED = {
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_hardened(response: httpx2.Response, *, no_store: bool = True) -> None:
    for name, value in REQUIRED.items():
        assert value in response.headers.get(name, ""), (str(response.url), name, dict(response.headers))
    csp = response.headers["content-security-policy"]
    assert "script-src" not in csp or "'unsafe-inline'" not in csp
    assert "default-src 'none'" in csp
    if no_store:
        assert response.headers.get("cache-control") == "no-store", (str(response.url), response.headers)


def test_every_page_of_a_whole_flow_carries_the_headers(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    browser.finish(browser.get(callback))
    ours = browser.answers_from(service.url)
    assert {s.status for s in ours} >= {200, 302}
    for seen in ours:
        request = httpx2.Request("GET", seen.url)
        assert_hardened(httpx2.Response(seen.status, headers=seen.headers, request=request))


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/nowhere", 404),
        ("POST", "/healthz", 405),
        ("GET", "/link/forged", 404),
        ("GET", "/oauth/google/callback?state=forged", 400),
        ("GET", "/oauth/yahoo/callback", 404),
        ("GET", "/api/link-sessions/ls_nope", 404),
        ("DELETE", "/api/link-sessions/ls_nope", 405),
        ("POST", "/api/link-sessions", 415),
        ("GET", "/oauth/google/callback?x=" + "a" * 10_000, 414),
    ],
)
def test_errors_and_api_answers_carry_the_headers(shared_service, method, path, status):
    response = shared_service.api.request(method, path)
    assert response.status_code == status, response.text[:200]
    assert_hardened(response)


def test_unauthenticated_api_answer_carries_the_headers(shared_service):
    response = httpx2.get(f"{shared_service.url}/api/link-sessions/x")
    assert response.status_code == 401
    assert_hardened(response)


def test_static_files_carry_the_headers(shared_service):
    response = shared_service.api.get("/static/style.css")
    assert response.status_code == 200
    assert_hardened(response)
    assert_hardened(shared_service.api.get("/theme.css"), no_store=False)


def test_unhandled_error_pages_carry_the_headers(service, browser):
    # Break the database under the running service: a 500, answered outside every middleware.
    created = service.create_session()
    for table in ("flows", "handoffs", "webhook_events", "link_sessions"):
        sql(service, f"DROP TABLE IF EXISTS {table}")
    api = service.api.get(f"/api/link-sessions/{created['id']}")
    assert api.status_code == 500 and api.headers["content-type"] == "application/problem+json"
    assert_hardened(api)
    page = browser.get(created["url"])
    assert page.status_code == 500 and 'data-error="server_error"' in page.text
    assert "Traceback" not in page.text
    assert_hardened(page)


def test_hsts_is_sent_when_served_over_https(make_service):
    service = make_service(PUBLIC_URL="https://link.example.com")
    for path in ("/healthz", "/nowhere", "/api/link-sessions/x"):
        response = httpx2.get(service.url + path)
        assert "max-age=" in response.headers.get("strict-transport-security", ""), path


def test_no_hsts_on_plain_http_loopback(shared_service):
    assert "strict-transport-security" not in shared_service.api.get("/healthz").headers


def test_binding_cookie_is_httponly_samesite_lax_and_secure_on_https(make_service):
    service = make_service(PUBLIC_URL="https://link.example.com")
    created = service.create_session()
    link_path = created["url"].removeprefix("https://link.example.com")
    response = httpx2.get(service.url + link_path)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-oauth_binding="), cookie
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "secure" in lowered
    assert "path=/" in lowered and "domain=" not in lowered
