"""`oauth-service demo`: the real service and the sandbox providers on one loopback port.

Nothing here is a shortcut through the service: the home page creates a link session through
the real API, over HTTP, and the sandbox speaks the same protocols Google, Microsoft and
Unipile do. Only loopback addresses are accepted, because the sandbox hands out accounts to
anyone who asks.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from .app import create_app
from .errors import ERRORS, LinkError
from .sandbox import Sandbox
from .settings import is_loopback_host, load_settings


def demo_env(base_url: str, database_url: str) -> dict[str, str]:
    """Configuration of a service wired to sandbox providers mounted at `{base_url}/sandbox`."""
    sandbox = f"{base_url}/sandbox"
    return {
        "PUBLIC_URL": base_url,
        "SECRET_KEYS": secrets.token_urlsafe(48),
        "API_KEYS": secrets.token_urlsafe(32),
        "ALLOWED_REDIRECT_ORIGINS": base_url,
        "DATABASE_URL": database_url,
        "GOOGLE_CLIENT_ID": "demo-google-client",
        "GOOGLE_CLIENT_SECRET": secrets.token_urlsafe(24),
        "GOOGLE_METADATA_URL": f"{sandbox}/google/.well-known/openid-configuration",
        "MICROSOFT_CLIENT_ID": "demo-microsoft-client",
        "MICROSOFT_CLIENT_SECRET": secrets.token_urlsafe(24),
        "MICROSOFT_AUTHORITY": f"{sandbox}/microsoft",
        "MICROSOFT_GRAPH_URL": f"{sandbox}/graph",
        "UNIPILE_DSN": f"{sandbox}/unipile",
        "UNIPILE_API_URL": f"{sandbox}/unipile",
        "UNIPILE_API_KEY": "sandbox-unipile-key",
        "APP_NAME": "Demo app",
    }


def build_demo_app(base_url: str, database_url: str) -> Starlette:
    env = demo_env(base_url, database_url)
    settings = load_settings(env, env_file=None)
    sandbox = Sandbox(f"{base_url}/sandbox")
    sandbox.unipile.api_key = env["UNIPILE_API_KEY"]
    for name in ("google", "microsoft"):
        provider = settings.providers[name]
        getattr(sandbox, name).register_client(
            provider.client_id, provider.client_secret, [settings.callback_url(name)]
        )
    service = create_app(settings)
    api = httpx2.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {env['API_KEYS']}"}, timeout=10
    )

    def pages() -> Any:
        return service.state.services.pages

    async def home(request: Request) -> Response:
        return pages().render(request, "demo/home.html")

    async def start_link(request: Request) -> Response:
        form = await request.form()
        features = [f for f in form.getlist("feature") if f in ("calendar", "mail")] or ["calendar"]
        response = await api.post(
            "/api/link-sessions",
            json={
                "name": "demo-user",
                "features": features,
                "success_redirect_url": f"{base_url}/demo/result",
                "failure_redirect_url": f"{base_url}/demo/result",
                "state": secrets.token_urlsafe(8),
            },
        )
        response.raise_for_status()
        return RedirectResponse(response.json()["url"], status_code=303)

    async def result(request: Request) -> Response:
        params = request.query_params
        session = None
        if params.get("link_session", "").startswith("ls_"):
            answer = await api.get(f"/api/link-sessions/{params['link_session']}")
            session = answer.json() if answer.status_code == 200 else None
        error = params.get("error")
        title = explanation = None
        if error in ERRORS:
            title, explanation = pages().explain(request, LinkError(error), session and session["features"])
        return pages().render(
            request, "demo/result.html", params=dict(params), session=session,
            error=error, error_title=title, explanation=explanation,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with service.router.lifespan_context(service):
            yield
        await api.aclose()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/demo/link", start_link, methods=["POST"]),
            Route("/demo/result", result),
            Mount("/sandbox", sandbox.app),
            Mount("", service),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app


def run_demo(host: str = "127.0.0.1", port: int = 8000) -> None:
    if not is_loopback_host(host):
        print(
            f"The demo only listens on loopback addresses (127.0.0.1, localhost, ::1), not {host!r}:\n"
            "its sandbox providers hand out accounts to anyone who asks.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    from .logs import configure_logging

    configure_logging("info", "text")
    url_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{url_host}:{port}"
    with tempfile.TemporaryDirectory(prefix="oauth-service-demo-") as tmp:
        app = build_demo_app(base_url, f"sqlite:///{Path(tmp) / 'demo.db'}")
        print(f"\n  Demo running: open {base_url}/ in your browser (Ctrl+C to stop).\n", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)
