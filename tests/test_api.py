"""The link-session API: authentication, validation naming the field, and status answers."""

from __future__ import annotations

from datetime import datetime

import pytest

from .support import API_KEY, APP_ORIGIN


def test_create_answers_201_with_an_absolute_url_under_public_url(service):
    created = service.create_session(features=["calendar", "mail"], expires_in=600)
    assert created["id"].startswith("ls_")
    assert created["url"].startswith(f"{service.url}/link/")
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert 590 < expires.timestamp() - datetime.now().timestamp() <= 600
    assert created["status"] == "pending"


def test_get_reports_status_and_the_fields_apps_read(service):
    created = service.create_session()
    status = service.session(created["id"])
    assert status["status"] == "pending"
    assert {"id", "name", "status", "provider", "account_id", "email", "error"} <= set(status)
    assert status["name"] == "user-42"


def test_unknown_session_is_404_problem(service):
    response = service.api.get("/api/link-sessions/ls_nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic " + API_KEY, "Bearer"])
def test_missing_or_wrong_api_key_is_401(service, header):
    headers = {"Authorization": header} if header else {}
    response = service.api.post(
        "/api/link-sessions", json={"name": "x"}, headers=headers | {"Authorization": header or ""}
    )
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert "WWW-Authenticate" in response.headers


def test_malformed_json_is_400(service):
    response = service.api.post(
        "/api/link-sessions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["title"] == "Malformed JSON"


def test_non_json_body_is_415(service):
    response = service.api.post("/api/link-sessions", data={"name": "x"})
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"features": ["calendar", "fax"]}, "features"),
        ({"features": []}, "features"),
        ({"providers": ["yahoo"]}, "providers"),
        ({"success_redirect_url": "https://evil.example/cb"}, "success_redirect_url"),
        ({"failure_redirect_url": "http://app.example.com/failure"}, "failure_redirect_url"),
        ({"success_redirect_url": "javascript:alert(1)"}, "success_redirect_url"),
        ({"success_redirect_url": f"{APP_ORIGIN}.evil.example/x"}, "success_redirect_url"),
        ({"success_redirect_url": "https://app.example.com@evil.example/"}, "success_redirect_url"),
        ({"expires_in": 5}, "expires_in"),
        ({"expires_in": "600"}, "expires_in"),
        ({"reconnect_account": "../../admin"}, "reconnect_account"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(service, fields, field):
    body = {
        "name": "user-42",
        "success_redirect_url": f"{APP_ORIGIN}/success",
        "failure_redirect_url": f"{APP_ORIGIN}/failure",
    }
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    response = service.api.post("/api/link-sessions", json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_unconfigured_provider_is_refused_when_the_hosted_fallback_is_off(make_service):
    service = make_service(MICROSOFT_CLIENT_ID="", MICROSOFT_CLIENT_SECRET="", UNIPILE_HOSTED_AUTH="off")
    response = service.api.post(
        "/api/link-sessions",
        json={
            "name": "u",
            "providers": ["microsoft"],
            "success_redirect_url": f"{APP_ORIGIN}/s",
            "failure_redirect_url": f"{APP_ORIGIN}/f",
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "providers"


def test_health_and_readiness(service):
    assert service.api.get("/healthz").json() == {"status": "ok"}
    ready = service.api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
