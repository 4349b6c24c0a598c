"""The pages people meet: the branded link page, error pages, and the theme they share.

Templates are Jinja2 with autoescaping on and the i18n extension installed, so every string
a person reads is escaped and translated into the language the browser asks for. A customer
can replace any template (or all of them) by putting a file of the same name in
`TEMPLATES_DIR`; the rest still come from the package.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .errors import ERRORS, ApiProblem, LinkError, problem_response
from .i18n import FEATURE_NAMES, Catalogues
from .settings import Settings

PACKAGE_TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def _identity(message: str) -> str:
    return message


class Pages:
    """Renders templates with the branding from configuration, in the browser's language."""

    def __init__(self, settings: Settings) -> None:
        search_path = [PACKAGE_TEMPLATES]
        if settings.templates_dir:
            search_path.insert(0, settings.templates_dir)
        loader = jinja2.FileSystemLoader(search_path)
        self.catalogues = Catalogues()
        self.envs = {
            locale: self._environment(loader, self.catalogues.get(locale))
            for locale in self.catalogues.locales
        }
        self.branding = settings.branding
        self.theme_css = theme_css(settings.branding.accent_color)

    @staticmethod
    def _environment(loader: jinja2.BaseLoader, translations: gettext.NullTranslations) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=loader, autoescape=True, extensions=["jinja2.ext.i18n"], undefined=jinja2.StrictUndefined
        )
        env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        return env

    def locale(self, request: Request) -> str:
        return self.catalogues.negotiate(request.headers.get("accept-language", ""))

    def gettext(self, request: Request) -> Callable[[str], str]:
        """The translation function for this request's language."""
        return self.catalogues.get(self.locale(request)).gettext

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        locale = self.locale(request)
        html = self.envs[locale].get_template(template).render(branding=self.branding, lang=locale, **context)
        return HTMLResponse(
            html, status_code=status, headers={"Content-Language": locale, "Vary": "Accept-Language"}
        )

    def explain(
        self, request: Request, error: LinkError, features: list[str] | None = None
    ) -> tuple[str, str]:
        """The translated title and sentence a person reads about `error`."""
        _ = self.gettext(request)
        return _(ERRORS[error.code].title), describe(error, self.branding.app_name, features, gettext=_)

    def error(
        self,
        request: Request,
        error: LinkError,
        *,
        retry_url: str | None = None,
        hosted_url: str | None = None,
        refresh_after: int | None = None,
    ) -> HTMLResponse:
        """The branded error page; with `refresh_after`, it reloads `retry_url` by itself."""
        title, message = self.explain(request, error)
        return self.render(
            request,
            "error.html",
            status=error.status,
            code=error.code,
            title=title,
            message=message,
            retry_url=retry_url,
            hosted_url=hosted_url,
            refresh_after=refresh_after,
        )

    def theme(self, request: Request) -> Response:
        return Response(self.theme_css, media_type="text/css", headers={"Cache-Control": "max-age=300"})


def retry_later(
    request: Request, error: LinkError, retry_after: int, detail: str, *, reload: bool = False
) -> Response:
    """A "come back in `retry_after` seconds" answer (429, 503), with Retry-After either way.

    The API, and anything that is not a browser's GET, gets a problem document saying `detail`;
    a browser gets the branded page for `error`, which with `reload` loads the same URL again
    by itself once the wait is over.
    """
    headers = {"Retry-After": str(retry_after)}
    if request.method != "GET" or request.url.path.startswith("/api/"):
        title = HTTPStatus(error.status).phrase
        return problem_response(ApiProblem(error.status, title, detail, headers=headers))
    again = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = request.app.state.services.pages.error(
        request, error, retry_url=again if reload else None, refresh_after=retry_after if reload else None
    )
    response.headers.update(headers)
    return response


def describe(
    error: LinkError,
    app_name: str,
    features: list[str] | None = None,
    gettext: Callable[[str], str] = _identity,
) -> str:
    """The sentence a person reads about `error` (the code's text, then any detail)."""
    names = [gettext(FEATURE_NAMES.get(f, f)) for f in features or ["calendar"]]
    features_text = gettext(" and ").join(names)
    text = gettext(ERRORS[error.code].message).format(app_name=app_name, features=features_text)
    if error.description:
        text = f"{text} ({error.description})"
    return text


def _luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio between two #rrggbb colours (1 to 21)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def theme_css(accent: str) -> str:
    """Custom properties from APP_ACCENT_COLOR that keep text readable whatever the colour.

    `--on-accent` is the text colour on accent backgrounds (white or near-black, whichever
    contrasts more); `--accent-ink` is the accent itself for links on white when it reaches
    4.5:1, else the body text colour.
    """
    dark = "#111827"
    on_accent = "#ffffff" if contrast(accent, "#ffffff") >= contrast(accent, dark) else dark
    ink = accent if contrast(accent, "#ffffff") >= 4.5 else "#1f2937"
    return f":root {{ --accent: {accent}; --on-accent: {on_accent}; --accent-ink: {ink}; }}\n"
