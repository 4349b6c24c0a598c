"""The ceiling: a bare Starlette route answering 302, the fastest a start route could possibly be."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

_TARGET = "http://127.0.0.1:9/authorize?response_type=code&client_id=ceiling&state=fixed"


async def start(request: Request) -> Response:
    return RedirectResponse(_TARGET, status_code=302)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create() -> Starlette:
    return Starlette(routes=[Route("/start", start), Route("/healthz", healthz)])
