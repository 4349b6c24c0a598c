"""Brute force and flooding: per-client limits on start, callback and the API answer 429 with
Retry-After (a branded page in the browser, problem+json on the API)."""

from __future__ import annotations

import httpx2
import pytest

from oauth_service.settings import ConfigError, load_settings

from ..support import API_KEY, APP_ORIGIN, service_env
from .helpers import assert_error_page, assert_refused_cleanly

BODY = {"name": "u", "success_redirect_url": f"{APP_ORIGIN}/s", "failure_redirect_url": f"{APP_ORIGIN}/f"}


def wrong_key(service, **headers: str) -> httpx2.Response:
    return httpx2.get(
        f"{service.url}/api/link-sessions/x", headers={"Authorization": "Bearer guess", **headers}
    )


def assert_api_429(response: httpx2.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["cache-control"] == "no-store"


def test_api_key_brute_force_hits_the_rate_limit(make_service, sandbox):
    service = make_service(RATE_LIMIT_API_AUTH_FAILURES="5/minute")
    assert [wrong_key(service).status_code for _ in range(5)] == [401] * 5
    assert_api_429(wrong_key(service))
    # Cut off means cut off: even the right key is refused from that client until the window passes.
    assert_api_429(service.api.get("/api/link-sessions/x"))
    assert_refused_cleanly(sandbox)


def test_good_api_calls_do_not_count_as_failures(make_service):
    service = make_service(RATE_LIMIT_API_AUTH_FAILURES="2/minute")
    for _ in range(10):
        assert service.api.post("/api/link-sessions", json=BODY).status_code == 201


def test_api_flood_hits_the_rate_limit(make_service):
    service = make_service(RATE_LIMIT_API="3/minute")
    assert [service.api.get("/api/link-sessions/x").status_code for _ in range(3)] == [404] * 3
    assert_api_429(service.api.post("/api/link-sessions", json=BODY))


def test_spoofed_x_forwarded_for_from_an_untrusted_peer_cannot_dodge_the_limit(
    make_service, sandbox, monkeypatch
):
    # Only FORWARDED_ALLOW_IPS may say who the client is; here that is not us (127.0.0.1).
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")
    service = make_service(RATE_LIMIT_API_AUTH_FAILURES="3/minute")
    answers = [wrong_key(service, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(5)]
    assert answers == [401, 401, 401, 429, 429]
    assert_refused_cleanly(sandbox)


def test_limits_are_per_client_behind_a_trusted_proxy(make_service, monkeypatch):
    # Behind the trusted proxy (uvicorn's default: 127.0.0.1), each forwarded client has its own count.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1")
    service = make_service(RATE_LIMIT_API_AUTH_FAILURES="2/minute")
    first = [wrong_key(service, **{"X-Forwarded-For": "198.51.100.1"}).status_code for _ in range(3)]
    assert first == [401, 401, 429]
    assert wrong_key(service, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 401


def test_start_flood_hits_the_rate_limit_with_a_branded_page(make_service, browser, sandbox):
    service = make_service(RATE_LIMIT_START="3/minute")
    created = service.create_session()
    link_page = browser.open_link(created["url"])
    for _ in range(3):
        assert browser.click(link_page, "google").status_code == 302
    page = browser.click(link_page, "google")
    assert_error_page(page, "rate_limited", 429)
    assert 1 <= int(page.headers["retry-after"]) <= 60
    assert "Acme Calendar" in page.text
    assert_refused_cleanly(sandbox)


def test_callback_flood_hits_the_rate_limit_with_a_branded_page(make_service, browser, sandbox):
    service = make_service(RATE_LIMIT_CALLBACK="4/minute")
    for i in range(4):
        assert browser.get(f"{service.url}/oauth/google/callback?state=guess{i}").status_code == 400
    page = browser.get(f"{service.url}/oauth/google/callback?state=guess")
    assert_error_page(page, "rate_limited", 429)
    assert page.headers["retry-after"].isdigit()
    assert_refused_cleanly(sandbox)


def test_limits_can_be_turned_off(make_service):
    service = make_service(RATE_LIMIT_API="off", RATE_LIMIT_API_AUTH_FAILURES="off")
    assert {wrong_key(service).status_code for _ in range(30)} == {401}


@pytest.mark.parametrize("value", ["lots", "60", "60/fortnight", "-1/minute"])
def test_a_malformed_limit_is_a_configuration_error_saying_how_to_fix_it(value):
    env = service_env("http://127.0.0.1:1", "http://127.0.0.1:2", "sqlite:///x.db", RATE_LIMIT_START=value)
    with pytest.raises(ConfigError) as info:
        load_settings(env, env_file=None)
    assert any("RATE_LIMIT_START" in p and "60/minute" in p for p in info.value.problems)


def test_default_limits_leave_an_app_backend_alone(shared_service):
    assert API_KEY  # the shared service runs with the defaults
    for _ in range(50):
        assert shared_service.api.get("/api/link-sessions/x").status_code == 404
