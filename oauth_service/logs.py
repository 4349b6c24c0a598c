"""Structured logs: one JSON object a line, each carrying the id of the request it belongs to.

The request id lives in a context variable set by `RequestIdMiddleware`, so every line logged
while a request is handled (by us, SQLAlchemy or uvicorn) names it without passing it around.
Only the path of a request is ever logged, never its query string: callbacks carry
authorization codes there. Link, finishing and hosted-return paths carry signed references, so
they are logged as their route template.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# An incoming X-Request-ID is kept only when it is a plain token, so it cannot forge log lines.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")
# Path segments that are credentials of a sort (signed link, finishing and hosted-return
# references): replaced by their route template in logs.
_SECRET_PATHS = (
    (re.compile(r"^/(link|finishing)/[^/]+"), r"/\1/{token}"),
    (re.compile(r"^/hosted/(return|notify)/[^/]+"), r"/hosted/\1/{ref}"),
)

access_logger = logging.getLogger("oauth_service.access")

# Loggers that could print request details at DEBUG; they stay at WARNING whatever LOG_LEVEL says.
QUIET_LOGGERS = ("httpx2", "httpx", "httpcore", "hpack", "authlib", "sqlalchemy.engine")


def loggable_path(path: str) -> str:
    """The request path as it may appear in a log: no query string, no link token."""
    for pattern, template in _SECRET_PATHS:
        path = pattern.sub(template, path, count=1)
    return path


def accepted_request_id(value: str | None) -> str:
    """The caller's X-Request-ID when it is a sane token, else a fresh random one."""
    if value and _SANE_ID.match(value):
        return value
    return secrets.token_hex(16)


class RequestIdMiddleware:
    """Sets the request id for the request's lifetime, echoes it, and logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = accepted_request_id(incoming)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            # On an unhandled error the id stays set (each request is its own task), so the
            # error handler's log line, written after this returns, still names the request.
            access_logger.info(
                "%s %s %s",
                scope["method"],
                loggable_path(scope["path"]),
                status,
                extra={
                    "http": {
                        "method": scope["method"],
                        "path": loggable_path(scope["path"]),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    }
                },
            )
        request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id (also for the text format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, and any `http` extra."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id.get()),
        }
        http = getattr(record, "http", None)
        if http is not None:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send every logger's records to stderr, as JSON lines (or `text` for people at a terminal)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # uvicorn's loggers would print through their own handlers; let them reach ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
