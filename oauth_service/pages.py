"""The pages people meet: the branded link page, error pages, and the theme they share.

Templates are Jinja2 with autoescaping on and the i18n extension installed, so every string
a person reads is escaped and can be translated.
"""

from __future__ import annotations

import os
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .errors import ERRORS, LinkError
from .settings import Settings

PACKAGE_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


class Pages:
    """Renders templates with the branding from configuration."""

    def __init__(self, settings: Settings) -> None:
        search_path = [PACKAGE_TEMPLATES]
        override = os.environ.get("TEMPLATES_DIR")
        if override:
            search_path.insert(0, override)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search_path),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
        )
        self.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        self.branding = settings.branding
        self.theme_css = (
            ":root { --accent: %s; }\n" % settings.branding.accent_color  # noqa: UP031
        )

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(branding=self.branding, **context)
        return HTMLResponse(html, status_code=status)

    def error(
        self,
        request: Request,
        error: LinkError,
        *,
        retry_url: str | None = None,
        hosted_url: str | None = None,
    ) -> HTMLResponse:
        text = ERRORS[error.code]
        return self.render(
            request,
            "error.html",
            status=error.status,
            code=error.code,
            title=text.title,
            message=describe(error, self.branding.app_name),
            retry_url=retry_url,
            hosted_url=hosted_url,
        )

    def theme(self, request: Request) -> Response:
        return Response(self.theme_css, media_type="text/css", headers={"Cache-Control": "max-age=300"})


def describe(error: LinkError, app_name: str, features: list[str] | None = None) -> str:
    """The sentence a person reads about `error` (the code's text, then any detail)."""
    text = ERRORS[error.code].message.format(
        app_name=app_name, features=" and ".join(features or ["calendar"])
    )
    if error.description:
        text = f"{text} ({error.description})"
    return text
