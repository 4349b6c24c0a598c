"""The API's keys: missing, wrong, near-miss and revoked keys are all refused alike; no
cross-origin browser access is granted to anyone."""

from __future__ import annotations

import httpx2
import pytest

from ..support import API_KEY, APP_ORIGIN
from .helpers import assert_refused_cleanly, raw_request

BODY = {"name": "u", "success_redirect_url": f"{APP_ORIGIN}/s", "failure_redirect_url": f"{APP_ORIGIN}/f"}

NEAR_MISSES = {
    "missing header": None,
    "bare scheme": "Bearer",
    "wrong key": "Bearer not-the-key",
    "prefix of the key": f"Bearer {API_KEY[:-1]}",
    "key plus a character": f"Bearer {API_KEY}x",
    "key in upper case": f"Bearer {API_KEY.upper()}",
    "key as Basic": f"Basic {API_KEY}",
    "key without a scheme": API_KEY,
    "two keys": f"Bearer {API_KEY},{API_KEY}",
    "very long": "Bearer " + "k" * 8000,
}


@pytest.mark.parametrize("authorization", list(NEAR_MISSES.values()), ids=list(NEAR_MISSES))
def test_missing_or_wrong_api_key_is_refused(shared_service, sandbox, authorization):
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx2.post(f"{shared_service.url}/api/link-sessions", json=BODY, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["title"] == "Unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("value", [API_KEY.encode() + b"\x00", "cl\u00e9".encode(), b"\xff\xfe"])
def test_api_key_with_bytes_no_client_would_send_is_refused(shared_service, sandbox, value):
    head = b"GET /api/link-sessions/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    answer = raw_request(shared_service.server.port, head + b"Authorization: Bearer " + value + b"\r\n\r\n")
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] in (b"400", b"401"), answer[:100]
    assert_refused_cleanly(sandbox)


def test_wrong_keys_are_refused_identically_whatever_they_share_with_the_real_one(shared_service):
    # Constant-time comparison leaves nothing to learn from the answer: same status, same body.
    answers = set()
    for key in ("x", API_KEY[:8], API_KEY[:-1], API_KEY[:-1] + "?", "z" * len(API_KEY)):
        response = httpx2.get(
            f"{shared_service.url}/api/link-sessions/x", headers={"Authorization": f"Bearer {key}"}
        )
        answers.add((response.status_code, response.content))
    assert len(answers) == 1 and next(iter(answers))[0] == 401


def test_query_string_key_is_not_accepted(shared_service):
    response = httpx2.get(f"{shared_service.url}/api/link-sessions/x", params={"access_token": API_KEY})
    assert response.status_code == 401


def test_revoked_api_key_is_refused(make_service, sandbox):
    # Revoking a key is removing it from API_KEYS and restarting.
    service = make_service(API_KEYS="the-new-key-0123456789")
    response = service.api.post("/api/link-sessions", json=BODY)  # still sends the old key
    assert response.status_code == 401
    renewed = httpx2.post(
        f"{service.url}/api/link-sessions", json=BODY,
        headers={"Authorization": "Bearer the-new-key-0123456789"},
    )
    assert renewed.status_code == 201
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("origin", ["https://evil.example", APP_ORIGIN, "null"])
def test_cors_preflight_grants_no_origin(shared_service, origin):
    response = httpx2.options(
        f"{shared_service.url}/api/link-sessions",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code in (400, 403, 405)
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


@pytest.mark.parametrize("origin", ["https://evil.example", APP_ORIGIN])
def test_cross_origin_reads_get_no_cors_grant(shared_service, origin):
    response = shared_service.api.get("/api/link-sessions/x", headers={"Origin": origin})
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
