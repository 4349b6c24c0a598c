"""The JSON API the app's backend calls: create a link session, read its outcome."""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import ApiProblem, FieldError
from .providers import PROVIDER_NAMES
from .redirects import redirect_url_problem
from .services import Services
from .settings import FEATURES
from .store import LinkSession

MAX_BODY = 16 * 1024
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _services(request: Request) -> Services:
    return request.app.state.services


def authenticate(request: Request) -> None:
    """Accept `Authorization: Bearer <key>` for any configured key, in constant time."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiProblem(
            401,
            "Unauthorized",
            "Send `Authorization: Bearer <API key>`.",
            headers={"WWW-Authenticate": 'Bearer realm="oauth-service"'},
        )
    presented_bytes = presented.strip().encode()
    matched = False
    for key in _services(request).settings.api_keys:
        matched |= hmac.compare_digest(presented_bytes, key.encode())
    if not matched:
        raise ApiProblem(
            401,
            "Unauthorized",
            "The API key is not valid.",
            headers={"WWW-Authenticate": 'Bearer realm="oauth-service", error="invalid_token"'},
        )


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def session_json(svc: Services, session: LinkSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "name": session.name,
        "status": session.current_status(),
        "providers": session.providers,
        "features": session.features,
        "provider": session.provider,
        "account_id": session.account_id,
        "email": session.email,
        "error": session.error,
        "error_description": session.error_description,
        "reconnect_account": session.reconnect_account,
        "created_at": iso(session.created_at),
        "expires_at": iso(session.expires_at),
    }


async def _json_body(request: Request) -> dict[str, Any]:
    if not request.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
        raise ApiProblem(415, "Unsupported Media Type", "Send the body as application/json.")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiProblem(413, "Payload Too Large", f"The body must be at most {MAX_BODY} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(400, "Malformed JSON", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiProblem(400, "Malformed JSON", "The body must be a JSON object.")
    return data


def _validate(svc: Services, data: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    errors: list[FieldError] = []
    settings = svc.settings
    known = {
        "name",
        "providers",
        "features",
        "success_redirect_url",
        "failure_redirect_url",
        "state",
        "reconnect_account",
        "login_hint",
        "expires_in",
    }
    for extra in sorted(set(data) - known):
        errors.append(FieldError(extra, "is not a known field"))

    def text(field: str, max_len: int, required: bool = False) -> str | None:
        value = data.get(field)
        if value is None:
            if required:
                errors.append(FieldError(field, "is required"))
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            errors.append(FieldError(field, "must be a non-empty string"))
            return None
        if len(value) > max_len:
            errors.append(FieldError(field, f"must be at most {max_len} characters"))
            return None
        if not value.isprintable():
            errors.append(FieldError(field, "must not contain control characters"))
            return None
        return value

    def choice_list(field: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
        value = data.get(field)
        if value is None:
            return default
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            errors.append(FieldError(field, f"must be a non-empty list of {', '.join(allowed)}"))
            return default
        bad = [v for v in value if v not in allowed]
        if bad:
            errors.append(FieldError(field, f"unknown value(s) {', '.join(bad)}; use {', '.join(allowed)}"))
            return default
        return list(dict.fromkeys(value))

    # With the hosted fallback on, a provider without our own client is offered through it.
    hosted = settings.unipile_hosted_auth != "off"
    offered = tuple(n for n in PROVIDER_NAMES if hosted or n in svc.providers)
    providers = choice_list("providers", PROVIDER_NAMES, list(offered))
    unconfigured = [p for p in providers if p not in offered]
    if unconfigured:
        errors.append(FieldError("providers", f"not configured on this service: {', '.join(unconfigured)}"))
    features = choice_list("features", FEATURES, ["calendar"])

    urls: dict[str, str | None] = {}
    for field in ("success_redirect_url", "failure_redirect_url"):
        url = text(field, 2048, required=True)
        urls[field] = url
        if url is not None:
            problem = redirect_url_problem(url, settings.allowed_redirect_origins)
            if problem:
                errors.append(FieldError(field, problem))

    reconnect = text("reconnect_account", 128)
    if reconnect is not None and not _ACCOUNT_ID.match(reconnect):
        errors.append(FieldError("reconnect_account", "must be a Unipile account id"))

    expires_in = data.get("expires_in", settings.link_session_ttl)
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not (60 <= expires_in <= settings.link_session_max_ttl)
    ):
        errors.append(
            FieldError(
                "expires_in", f"must be a whole number of seconds from 60 to {settings.link_session_max_ttl}"
            )
        )
        expires_in = settings.link_session_ttl

    values = {
        "name": text("name", 256, required=True),
        "providers": providers,
        "features": features,
        "success_url": urls["success_redirect_url"],
        "failure_url": urls["failure_redirect_url"],
        "app_state": text("state", 1024),
        "login_hint": text("login_hint", 320),
        "reconnect_account": reconnect,
        "expires_in": expires_in,
    }
    return values, errors


async def new_link_session(svc: Services, data: dict[str, Any]) -> LinkSession:
    """Validate a request for a link session and store it (the API and the CLI both use this)."""
    values, errors = _validate(svc, data)
    if errors:
        raise ApiProblem(422, "Invalid link session", "Some fields are not valid.", errors)
    now = time.time()
    session = LinkSession(
        id="ls_" + secrets.token_urlsafe(18),
        name=values["name"],
        providers=values["providers"],
        features=values["features"],
        success_url=values["success_url"],
        failure_url=values["failure_url"],
        app_state=values["app_state"],
        login_hint=values["login_hint"],
        reconnect_account=values["reconnect_account"],
        created_at=now,
        updated_at=now,
        expires_at=now + values["expires_in"],
    )
    await svc.store.create_link_session(session)
    return session


async def create_link_session(request: Request) -> JSONResponse:
    """POST /api/link-sessions → 201 {id, url, expires_at}."""
    authenticate(request)
    svc = _services(request)
    session = await new_link_session(svc, await _json_body(request))
    body = session_json(svc, session) | {"url": svc.link_url(session.id)}
    return JSONResponse(body, status_code=201, headers={"Location": f"/api/link-sessions/{session.id}"})


async def get_link_session(request: Request) -> JSONResponse:
    """GET /api/link-sessions/{id} → the session's status and outcome."""
    authenticate(request)
    svc = _services(request)
    session = await svc.store.get_link_session(request.path_params["id"])
    if session is None:
        raise ApiProblem(404, "Not Found", "No link session has this id.")
    return JSONResponse(session_json(svc, session))
