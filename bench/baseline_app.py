"""The baseline: the plain recipe a developer writes from Authlib's Starlette documentation.

Starlette + `SessionMiddleware` + `authlib.integrations.starlette_client.OAuth`, with
`authorize_redirect` / `authorize_access_token` (PKCE S256 through `client_kwargs`, which the
providers require), then one `POST /api/v1/accounts` of the tokens to Unipile with a fresh
`httpx2.AsyncClient` per request, and no store. Microsoft needs Graph `/me` for Unipile's `id`
and `username`, fetched through Authlib's own `client.get`. It does less than the service (no
link sessions, no browser binding, no durable hand-off) and is configured from the environment
variables the service uses, so the benchmark can point both at the same stand-ins.
"""

from __future__ import annotations

import os
from urllib.parse import urlencode

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CALENDAR_SCOPES = {
    "google": "openid email profile https://www.googleapis.com/auth/calendar",
    "microsoft": (
        "openid email profile offline_access https://graph.microsoft.com/User.Read "
        "https://graph.microsoft.com/Calendars.ReadWrite"
    ),
}


def create() -> Starlette:
    """The uvicorn factory."""
    env = os.environ
    public_url = env["PUBLIC_URL"].rstrip("/")
    success_url, failure_url = env["BASELINE_SUCCESS_URL"], env["BASELINE_FAILURE_URL"]

    oauth = OAuth()
    oauth.register(
        name="google",
        client_id=env["GOOGLE_CLIENT_ID"],
        client_secret=env["GOOGLE_CLIENT_SECRET"],
        server_metadata_url=env["GOOGLE_METADATA_URL"],
        client_kwargs={"scope": CALENDAR_SCOPES["google"], "code_challenge_method": "S256"},
    )
    tenant = env["MICROSOFT_TENANT"]
    oauth.register(
        name="microsoft",
        client_id=env["MICROSOFT_CLIENT_ID"],
        client_secret=env["MICROSOFT_CLIENT_SECRET"],
        server_metadata_url=f"{env['MICROSOFT_AUTHORITY']}/{tenant}/v2.0/.well-known/openid-configuration",
        client_kwargs={"scope": CALENDAR_SCOPES["microsoft"], "code_challenge_method": "S256"},
    )

    def fail(error: str) -> Response:
        return RedirectResponse(f"{failure_url}?{urlencode({'error': error})}", status_code=302)

    async def login(request: Request) -> Response:
        name = request.path_params["provider"]
        client = oauth.create_client(name)
        if client is None:
            return JSONResponse({"error": "unknown provider"}, status_code=404)
        redirect_uri = f"{public_url}/auth/{name}"
        extra = {"access_type": "offline", "prompt": "consent"} if name == "google" else {}
        return await client.authorize_redirect(request, redirect_uri, **extra)

    async def auth(request: Request) -> Response:
        name = request.path_params["provider"]
        client = oauth.create_client(name)
        if client is None:
            return JSONResponse({"error": "unknown provider"}, status_code=404)
        try:
            token = await client.authorize_access_token(request)
        except OAuthError as error:
            return fail(error.error or "oauth_error")
        if not token.get("refresh_token"):
            return fail("no_refresh_token")
        body = {"access_token": token["access_token"], "refresh_token": token["refresh_token"]}
        if name == "google":
            body["provider"] = "GOOGLE_OAUTH"
        else:
            me = await client.get(f"{env['MICROSOFT_GRAPH_URL']}/v1.0/me", token=token)
            if me.status_code != 200:
                return fail("graph_error")
            profile = me.json()
            body.update(
                provider="OUTLOOK", id=profile["id"], username=profile["mail"] or profile["userPrincipalName"]
            )
        async with httpx2.AsyncClient() as http:
            answer = await http.post(
                f"{env['UNIPILE_DSN']}/api/v1/accounts",
                json=body,
                headers={"X-API-KEY": env["UNIPILE_API_KEY"]},
            )
        if answer.status_code != 201:
            return fail("unipile_rejected")
        query = urlencode({"account_id": answer.json()["account_id"], "provider": name})
        return RedirectResponse(f"{success_url}?{query}", status_code=302)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/login/{provider}", login),
            Route("/auth/{provider}", auth),
            Route("/healthz", healthz),
        ],
        middleware=[Middleware(SessionMiddleware, secret_key=env["BASELINE_SESSION_SECRET"])],
    )
