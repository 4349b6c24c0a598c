"""HTML pages of the sandbox, rendered from ``templates/`` with autoescaping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Sent with every sandbox page: no caching, no framing, no referrer leaking codes.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` into a response that carries the sandbox banner."""
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def error_page(title: str, message: str, status_code: int = 400, **context: Any) -> HTMLResponse:
    """A provider-side error page, shown instead of redirecting to an untrusted URI."""
    return page("error.html", status_code, title=title, message=message, **context)
