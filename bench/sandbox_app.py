"""The sandbox stand-ins as their own uvicorn process, with injected latency and a small control API.

Run in a separate process so the stand-ins' CPU never shares a GIL with the server under test or
the load generator. `/_bench/stats` reads the discovery/JWKS fetch counts, `/_bench/reset` clears
what the stand-ins remember between runs (clients, keys and latency stay).
"""

from __future__ import annotations

import dataclasses
import json
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_service.sandbox import Sandbox

from .config import CLIENTS, Latency


def _apply_latency(sandbox: Sandbox, latency: Latency) -> None:
    for provider in (sandbox.google, sandbox.microsoft):
        provider.behaviour = dataclasses.replace(provider.behaviour, token_latency=latency.token)
    sandbox.graph.latency = latency.graph
    sandbox.unipile.latency = latency.unipile


def create() -> Starlette:
    """The uvicorn factory: configuration comes from BENCH_* environment variables."""
    sandbox = Sandbox(os.environ["BENCH_SANDBOX_URL"])
    latency = Latency(**json.loads(os.environ.get("BENCH_LATENCY", "{}")))
    redirect_uris: dict[str, list[str]] = json.loads(os.environ["BENCH_REDIRECT_URIS"])
    for name, (client_id, secret) in CLIENTS.items():
        getattr(sandbox, name).register_client(client_id, secret, redirect_uris[name])
    _apply_latency(sandbox, latency)

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "fetch_counts": {
                    "google": dict(sandbox.google.fetch_counts),
                    "microsoft": dict(sandbox.microsoft.fetch_counts),
                },
                "token_requests": len(sandbox.google.token_requests) + len(sandbox.microsoft.token_requests),
                "accounts": len(sandbox.unipile.accounts),
            }
        )

    async def reset(request: Request) -> Response:
        sandbox.reset()  # forgets behaviours too: put the injected latency back
        _apply_latency(sandbox, latency)
        return JSONResponse({"reset": True})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = sandbox.app
    app.router.routes[0:0] = [
        Route("/_bench/stats", stats, methods=["GET"]),
        Route("/_bench/reset", reset, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return app
