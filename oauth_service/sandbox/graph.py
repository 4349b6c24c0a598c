"""The Microsoft Graph stand-in: ``/v1.0/me`` and OIDC UserInfo, under ``/graph``."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import Endpoint, Fault, FaultQueue, apply_fault
from .microsoft import MicrosoftProvider, pairwise_sub

_ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceNotAvailable",
    504: "GatewayTimeout",
}


def graph_error(status_code: int, message: str = "") -> dict[str, Any]:
    """The body Graph sends with an error status."""
    code = _ERROR_CODES.get(status_code, "generalException")
    return {"error": {"code": code, "message": message or f"Sandbox fault: HTTP {status_code}."}}


class GraphStandIn:
    """Answers for tokens issued by the Microsoft stand-in; faults and latency are scriptable.

    ``enqueue(Fault.status(503))`` fails the next ``GET /v1.0/me``; ``latency`` delays every call.
    """

    def __init__(self, base_url: str, microsoft: MicrosoftProvider) -> None:
        self.base_url = base_url.rstrip("/")
        self.microsoft = microsoft
        self.latency = 0.0
        self.faults = FaultQueue(default_path=r"/v1\.0/me", default_method="GET")
        self.calls = 0

    def enqueue(self, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Fail the next matching calls (default ``GET /v1.0/me``), one fault per call."""
        self.faults.enqueue(*faults, method=method, path=path)

    def reset(self) -> None:
        self.latency = 0.0
        self.calls = 0
        self.faults.clear()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/me", self._guarded(self.me), methods=["GET"]),
            Route("/oidc/userinfo", self._guarded(self.userinfo), methods=["GET", "POST"]),
        ]

    def _guarded(self, handler: Endpoint) -> Endpoint:
        """Serve ``handler`` after the configured latency and any queued fault."""

        async def endpoint(request: Request) -> Response:
            self.calls += 1
            if self.latency:
                await asyncio.sleep(self.latency)
            path = request.url.path.partition("/graph")[2]
            fault = self.faults.take(request.method, path)
            return await apply_fault(fault, request, handler, graph_error)

        return endpoint

    def _unauthorized(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        message = "Access token is empty." if not header else "Access token validation failure."
        token = header.partition(" ")[2].strip()
        info = self.microsoft.token_info(token)
        if info is not None and info.kind == "access" and not info.revoked:
            message = "Lifetime validation failed, the token is expired."
        return JSONResponse(
            graph_error(401, message),
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    async def me(self, request: Request) -> Response:
        """The signed-in user's id, mailbox address and principal name."""
        info = self.microsoft.bearer(request)
        if info is None:
            return self._unauthorized(request)
        user = info.user
        given, _, surname = user.name.partition(" ")
        return JSONResponse(
            {
                "@odata.context": f"{self.base_url}/v1.0/$metadata#users/$entity",
                "businessPhones": [],
                "displayName": user.name,
                "givenName": given or None,
                "surname": surname or None,
                "jobTitle": None,
                "mail": user.mail,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": None,
                "userPrincipalName": user.upn,
                "id": user.oid,
            }
        )

    async def userinfo(self, request: Request) -> Response:
        """OpenID Connect UserInfo, which Microsoft serves from Graph."""
        info = self.microsoft.bearer(request)
        if info is None:
            return self._unauthorized(request)
        user = info.user
        given, _, family = user.name.partition(" ")
        body = {
            "sub": pairwise_sub(user, info.client_id),
            "name": user.name,
            "given_name": given,
            "family_name": family,
        }
        if user.email:
            body["email"] = user.email
        return JSONResponse(body)
