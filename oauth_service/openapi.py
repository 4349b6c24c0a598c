"""The OpenAPI document of `/api/*`, written by hand to say exactly what api.py accepts.

It is built from the settings because part of the contract is configuration: the providers
offered, the origins redirect URLs may point to, the longest link-session lifetime. Where
JSON Schema cannot say what api.py checks (Python's idea of a printable character), the
document asks for less: plain printable ASCII, which api.py always accepts.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .providers import PROVIDER_NAMES
from .redirects import MAX_URL_LENGTH
from .settings import FEATURES, Settings
from .store import AUTHORIZING, EXPIRED, FAILED, LINKED, LINKING, PENDING

_PRINTABLE = r"^[ -~]*$"
_NOT_BLANK = r"^[ -~]*[!-~][ -~]*$"
# After the origin: a path, query or fragment of printable ASCII without space or backslash.
_URL_REST = r"(?:[/?#][!-\[\]-~]*)?$"


def _problem(description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = {
            name: {"schema": {"type": "string"}, "description": d} for name, d in headers.items()
        }
    return answer


def _redirect_url(origins: frozenset[str]) -> dict[str, Any]:
    alternatives = "|".join(re.escape(o) for o in sorted(origins)) or "(?!)"
    return {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        "pattern": f"^(?:{alternatives}){_URL_REST}",
        "description": "An absolute URL on one of ALLOWED_REDIRECT_ORIGINS (exact origin match).",
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the link-session API as this configuration runs it."""
    configured = [name for name in PROVIDER_NAMES if name in settings.providers]
    too_many = _problem("Too many requests from this client.", **{"Retry-After": "seconds to wait"})
    unauthorized = _problem("Missing or unknown API key.", **{"WWW-Authenticate": "the Bearer challenge"})
    session_properties: dict[str, Any] = {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "string", "enum": [PENDING, AUTHORIZING, LINKING, LINKED, FAILED, EXPIRED]},
        "providers": {"type": "array", "items": {"type": "string", "enum": list(PROVIDER_NAMES)}},
        "features": {"type": "array", "items": {"type": "string", "enum": list(FEATURES)}},
        "provider": {"type": "string", "nullable": True},
        "account_id": {"type": "string", "nullable": True},
        "email": {"type": "string", "nullable": True},
        "error": {"type": "string", "nullable": True},
        "error_description": {"type": "string", "nullable": True},
        "reconnect_account": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "oauth-service link-session API",
            "version": "1",
            "description": "Create link sessions and read their outcome. Authenticate with "
            "`Authorization: Bearer <API key>`.",
        },
        "servers": [{"url": settings.public_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/link-sessions": {
                "post": {
                    "operationId": "createLinkSession",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewLinkSession"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "The link session; send the person to `url`.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CreatedLinkSession"}
                                }
                            },
                        },
                        "400": _problem("The body is not a JSON object."),
                        "401": unauthorized,
                        "413": _problem("The body is too large."),
                        "415": _problem("The body is not application/json."),
                        "422": _problem("Some fields are not valid; `errors` names each."),
                        "429": too_many,
                    },
                }
            },
            "/api/link-sessions/{id}": {
                "get": {
                    "operationId": "getLinkSession",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "The session's status and outcome.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/LinkSession"}}
                            },
                        },
                        "401": unauthorized,
                        "404": _problem("No link session has this id."),
                        "429": too_many,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "NewLinkSession": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "success_redirect_url", "failure_redirect_url"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": _NOT_BLANK},
                        "providers": {
                            "type": "array",
                            "minItems": 1,
                            "nullable": True,
                            "items": {"type": "string", "enum": configured},
                        },
                        "features": {
                            "type": "array",
                            "minItems": 1,
                            "nullable": True,
                            "items": {"type": "string", "enum": list(FEATURES)},
                        },
                        "success_redirect_url": _redirect_url(settings.allowed_redirect_origins),
                        "failure_redirect_url": _redirect_url(settings.allowed_redirect_origins),
                        "state": {
                            "type": "string",
                            "maxLength": 1024,
                            "pattern": _PRINTABLE,
                            "nullable": True,
                        },
                        "login_hint": {
                            "type": "string",
                            "maxLength": 320,
                            "pattern": _PRINTABLE,
                            "nullable": True,
                        },
                        "reconnect_account": {
                            "type": "string",
                            "pattern": r"^[A-Za-z0-9_-]{1,128}$",
                            "nullable": True,
                        },
                        "expires_in": {
                            "type": "integer",
                            "minimum": 60,
                            "maximum": settings.link_session_max_ttl,
                        },
                    },
                },
                "LinkSession": {
                    "type": "object",
                    "required": ["id", "name", "status", "providers", "features", "created_at", "expires_at"],
                    "properties": session_properties,
                },
                "CreatedLinkSession": {
                    "type": "object",
                    "required": ["id", "url", "status", "expires_at"],
                    "properties": session_properties | {"url": {"type": "string", "format": "uri"}},
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field", "message"],
                                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
    }


async def serve(request: Request) -> JSONResponse:
    """GET /openapi.json: the document, for clients and for Schemathesis."""
    return JSONResponse(openapi_document(request.app.state.services.settings))
