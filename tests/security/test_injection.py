"""Injection: markup and script in everything that reaches a page or a URL, CR/LF in anything
that could reach a header, and requests too large to be anything but an attack."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import httpx2
import pytest

from ..support import APP_ORIGIN, link
from .helpers import (
    assert_error_page,
    assert_failure_redirect,
    assert_no_unipile_call,
    assert_refused_cleanly,
    raw_request,
    to_callback,
)

SCRIPT = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
CRLF = "x\r\nSet-Cookie: injected=1\r\nLocation: https://evil.example/"


def assert_no_markup_injected(text: str) -> None:
    assert "<script>alert" not in text and "onerror=alert" not in text


def test_html_in_the_session_name_is_never_rendered(service, browser, sandbox):
    created, outcome = link(service, browser, "google", name=SCRIPT)
    assert outcome.ok
    for seen in browser.answers_from(service.url):
        assert_no_markup_injected(seen.text)
    assert service.session(created["id"])["name"] == SCRIPT  # kept as data, returned as JSON


def test_html_in_the_apps_state_goes_back_encoded(service, browser, sandbox):
    _, outcome = link(service, browser, "google", state=SCRIPT)
    assert outcome.ok and outcome.params["state"] == SCRIPT
    assert "<" not in outcome.url and '"' not in outcome.url


def test_html_in_login_hint_reaches_the_provider_encoded(service, browser, sandbox):
    created = service.create_session(login_hint=SCRIPT)
    start = browser.click(browser.open_link(created["url"]), "google")
    location = start.headers["location"]
    assert "<" not in location and '"' not in location and " " not in location
    assert parse_qs(urlsplit(location).query)["login_hint"] == [SCRIPT]
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_html_in_the_providers_error_description_goes_back_encoded(service, browser, sandbox, provider):
    getattr(sandbox, provider).script(error="server_error", error_description=SCRIPT)
    created = service.create_session()
    answer = browser.follow(browser.click(browser.open_link(created["url"]), provider))
    assert_failure_redirect(answer, "provider_error")
    location = answer.headers["location"]
    assert "<" not in location and '"' not in location
    assert SCRIPT in parse_qs(urlsplit(location).query)["error_description"][0]
    assert_refused_cleanly(sandbox)


def test_html_in_a_forged_callback_is_not_reflected_in_the_page(service, browser, sandbox):
    query = "&".join(f"{k}={quote(SCRIPT)}" for k in ("state", "code", "error", "error_description", "iss"))
    page = browser.get(f"{service.url}/oauth/google/callback?{query}")
    assert_error_page(page, "state_invalid")
    assert_no_markup_injected(page.text)
    assert_refused_cleanly(sandbox)


def test_html_in_the_link_path_is_not_reflected(service, browser, sandbox):
    page = browser.get(f"{service.url}/link/{quote(SCRIPT, safe='')}")
    assert_error_page(page, "not_found", 404)
    assert_no_markup_injected(page.text)
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize(
    "field", ["name", "state", "login_hint", "success_redirect_url", "reconnect_account"]
)
def test_crlf_in_an_api_field_is_refused(shared_service, sandbox, field):
    body = {
        "name": "user-42",
        "success_redirect_url": f"{APP_ORIGIN}/success",
        "failure_redirect_url": f"{APP_ORIGIN}/failure",
    }
    body[field] = (body.get(field) or "") + CRLF
    response = shared_service.api.post("/api/link-sessions", json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert_refused_cleanly(sandbox)


def test_crlf_from_the_provider_never_reaches_a_header(service, browser, sandbox):
    sandbox.google.script(error="server_error", error_description=CRLF)
    created = service.create_session()
    answer = browser.follow(browser.click(browser.open_link(created["url"]), "google"))
    assert_failure_redirect(answer, "provider_error")
    assert "\r" not in answer.headers["location"] and "\n" not in answer.headers["location"]
    assert "injected" not in answer.headers.get("set-cookie", "")
    assert "evil.example" not in urlsplit(answer.headers["location"]).netloc
    assert_refused_cleanly(sandbox)


def test_crlf_in_the_callback_query_never_reaches_a_header(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    answer = browser.get(callback + "&error=access_denied&error_description=" + quote(CRLF))
    assert_failure_redirect(answer, "access_denied")
    assert all("injected" not in v for v in answer.headers.get_list("set-cookie"))
    assert_refused_cleanly(sandbox)


def test_crlf_in_the_link_path_never_reaches_a_header(service, browser, sandbox):
    answer = browser.get(f"{service.url}/link/{quote(CRLF, safe='')}/google")
    assert answer.status_code == 404
    assert "injected" not in answer.headers.get("set-cookie", "")
    assert_refused_cleanly(sandbox)


def test_oversized_body_is_413_before_it_is_read(shared_service, sandbox):
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = shared_service.api.post(
        "/api/link-sessions", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert_refused_cleanly(sandbox)


def test_oversized_streamed_body_without_length_is_413(shared_service, sandbox):
    def chunks():
        for _ in range(256):
            yield b"x" * 1024

    response = shared_service.api.post(
        "/api/link-sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert_refused_cleanly(sandbox)


def test_oversized_query_at_the_callback_is_a_branded_414(shared_service, browser, sandbox):
    page = browser.get(f"{shared_service.url}/oauth/google/callback?state={'a' * 20_000}")
    assert_error_page(page, "request_too_large", 414)
    assert_refused_cleanly(sandbox)


def test_oversized_query_on_the_api_is_a_414_problem(shared_service, sandbox):
    response = shared_service.api.get(f"/api/link-sessions/x?{'a' * 20_000}")
    assert response.status_code == 414
    assert response.headers["content-type"] == "application/problem+json"
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_request_line_beyond_any_limit_is_refused_never_500(shared_service, sandbox, size):
    # Past what h11 buffers, uvicorn itself answers 400; below it we answer 414. Never a 500.
    line = b"GET /oauth/google/callback?x=" + b"a" * size + b" HTTP/1.1\r\n"
    head = line + b"Host: x\r\nConnection: close\r\n\r\n"
    status_line = raw_request(shared_service.server.port, head).split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"400", b"414"), status_line
    assert_refused_cleanly(sandbox)


def test_malformed_content_length_is_refused_never_500(shared_service, sandbox):
    head = (
        b"POST /api/link-sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}"
    )
    status_line = raw_request(shared_service.server.port, head).split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"400", b"413"), status_line
    assert_no_unipile_call(sandbox)


@pytest.mark.parametrize(
    "path",
    ["/static/../settings.py", "/static/%2e%2e/settings.py", "/static/..%2fapp.py", "/static//etc/passwd"],
)
def test_path_traversal_out_of_static_files_is_refused(shared_service, path):
    response = httpx2.get(f"{shared_service.url}{path}")
    assert response.status_code in (400, 404), response.status_code
    assert "SECRET_KEYS" not in response.text and "root:" not in response.text
