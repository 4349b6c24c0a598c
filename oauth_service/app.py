"""The service, read as a table of contents: routes, error handling, middleware, lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import api, flow, hosted, openapi
from .backpressure import BackpressureMiddleware
from .errors import ApiProblem, LinkError, problem_response
from .logs import RequestIdMiddleware, loggable_path
from .metrics import metrics_endpoint
from .pages import PACKAGE_TEMPLATES
from .ratelimit import RateLimitMiddleware, rule
from .requestsize import RequestSizeMiddleware
from .security import SecurityHeadersMiddleware, add_security_headers
from .services import Services
from .settings import Settings

logger = logging.getLogger(__name__)
STATIC_DIR = os.path.join(os.path.dirname(PACKAGE_TEMPLATES), "static")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.services.store.ping()
    except Exception as exc:  # any failure to reach the database means "not ready"
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


async def theme(request: Request) -> Response:
    return request.app.state.services.pages.theme(request)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_link_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LinkError)
    return request.app.state.services.pages.error(request, exc)


async def on_api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return problem_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if _is_api(request):
        return await on_api_problem(request, ApiProblem(exc.status_code, str(exc.detail)))
    code = "not_found" if exc.status_code in (404, 405) else "server_error"
    return await on_link_error(request, LinkError(code, status=exc.status_code))


async def on_server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, loggable_path(request.url.path))
    if _is_api(request):
        response = await on_api_problem(request, ApiProblem(500, "Internal Server Error"))
    else:
        response = await on_link_error(request, LinkError("server_error", status=500))
    # Starlette sends this answer from outside every middleware, so it needs its headers here.
    return add_security_headers(response, hsts=request.app.state.services.settings.secure_cookies)


def create_app(settings: Settings) -> Starlette:
    routes = [
        Route("/api/link-sessions", api.create_link_session, methods=["POST"]),
        Route("/api/link-sessions/{id}", api.get_link_session, methods=["GET"]),
        Route("/link/{token}", flow.link_page, methods=["GET"]),
        Route("/link/{token}/hosted", hosted.start, methods=["GET"]),
        Route("/link/{token}/{provider}", flow.start, methods=["GET"]),
        Route("/oauth/{provider}/callback", flow.callback, methods=["GET"]),
        Route("/finishing/{token}", flow.finishing, methods=["GET"]),
        Route("/hosted/return", hosted.v2_return, methods=["GET"]),
        Route("/hosted/return/{ref}", hosted.v1_return, methods=["GET"]),
        Route("/hosted/notify/{ref}", hosted.notify, methods=["POST"]),
        Route("/openapi.json", openapi.serve, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/theme.css", theme, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = Services.build(settings)
        await services.start()
        app.state.services = services
        # What start-up built (modules, tables, templates, clients) lives as long as the process:
        # out of the collector's sight, a full collection no longer holds the loop for ~50 ms.
        gc.freeze()
        try:
            yield
        finally:
            await services.aclose()

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies),
            Middleware(
                BackpressureMiddleware,
                limit=settings.max_concurrent_requests,
                retry_after=settings.busy_retry_after,
            ),
            Middleware(
                RequestSizeMiddleware, max_body=settings.max_body_bytes, max_url=settings.max_url_bytes
            ),
            Middleware(
                RateLimitMiddleware,
                rules=[
                    rule("start", r"^/link/[^/]+/[^/]+$", settings.rate_limit_start),
                    rule("callback", r"^/oauth/[^/]+/callback$", settings.rate_limit_callback),
                    rule("api", r"^/api/", settings.rate_limit_api),
                ],
                auth_failures=rule("api-auth-failures", r"^/api/", settings.rate_limit_api_auth_failures),
            ),
        ],
        exception_handlers={
            LinkError: on_link_error,
            ApiProblem: on_api_problem,
            HTTPException: on_http_exception,
            Exception: on_server_error,
        },
        lifespan=lifespan,
    )
