"""A simulated browser: its own cookie jar, following redirects, consent forms and meta refreshes.

It goes wherever the servers send it and stops at the app's URL, so it drives the service, the
durable hand-off's "finishing" page (`<meta http-equiv="refresh" content="N">` reloads it,
`content="N;url=..."` goes on) and the baseline alike. It runs no JavaScript: the finishing
page's faster poll script is not used, the meta refresh is. It times every request, and sorts
the time into the target's and the rest.
"""

from __future__ import annotations

import asyncio
import html
import re
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import httpx2

from .config import APP_ORIGIN

_REDIRECTS = (301, 302, 303, 307, 308)
_META_REFRESH = re.compile(
    r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["']\s*(\d+(?:\.\d+)?)\s*(?:;\s*url=([^"']+))?["']""",
    re.IGNORECASE,
)
_FORM = re.compile(r"<form[^>]*action=\"([^\"]*)\"", re.IGNORECASE)
_INPUT = re.compile(r"<input[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_LINK = re.compile(r"<a [^>]*>", re.IGNORECASE)
MAX_STEPS = 30
_CLOSED_UNDER_US = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)

# One TLS context for every simulated browser: building one per client costs the harness, not the target.
_SHARED_TLS = ssl.create_default_context()


class FlowError(Exception):
    """The flow did not reach the app's success URL; `kind` is a short, countable label."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class FlowTiming:
    """Where one flow's time went, in seconds."""

    target: float = 0.0  # requests answered by the server under test, and refresh waits it asked for
    other: float = 0.0  # requests answered by the stand-ins (consent page, its form)
    refresh_wait: float = 0.0
    requests: int = 0
    retries: int = 0
    busy: int = 0  # 503 "one moment" pages followed (the service's back-pressure)
    steps: list[str] = field(default_factory=list)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_consent_form(page: str) -> tuple[str, list[tuple[str, str]]] | None:
    """The sandbox consent form's action and the answer a person allowing everything sends."""
    action = _FORM.search(page)
    if action is None or "request_id" not in page:
        return None
    data: list[tuple[str, str]] = []
    for tag in _INPUT.findall(page):
        attrs = dict(_ATTR.findall(tag))
        name = html.unescape(attrs.get("name", ""))
        if not name or name == "decision":
            continue
        if attrs.get("type") == "checkbox" and " checked" not in tag and "checked=" not in tag:
            continue
        data.append((name, html.unescape(attrs.get("value", ""))))
    data.append(("decision", "allow"))
    return html.unescape(action.group(1)), data


def provider_href(page: str, provider: str) -> str | None:
    for tag in _LINK.findall(page):
        if f'data-provider="{provider}"' in tag:
            href = dict(_ATTR.findall(tag)).get("href")
            return html.unescape(href) if href else None
    return None


class Browser:
    """One person's browser; `reset()` between flows makes it the next person (cookies cleared)."""

    def __init__(self, target_origin: str, timeout: float, max_refresh_wait: float) -> None:
        self.target_origin = target_origin
        self.max_refresh_wait = max_refresh_wait
        self.http = httpx2.AsyncClient(
            follow_redirects=False,
            timeout=httpx2.Timeout(timeout),
            verify=_SHARED_TLS,
            limits=httpx2.Limits(max_connections=6, max_keepalive_connections=6),
        )

    def reset(self) -> None:
        self.http.cookies.clear()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, timing: FlowTiming, method: str, url: str, **kwargs: object) -> httpx2.Response:
        started = time.perf_counter()
        for attempt in range(2):
            try:
                response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
                break
            except httpx2.TimeoutException:
                raise FlowError(f"timeout {_step(url)}") from None
            except _CLOSED_UNDER_US as exc:
                # A keep-alive connection the server closed as we reused it: browsers silently
                # retry an idempotent request once, so does this one.
                if attempt or method != "GET":
                    raise FlowError(f"{type(exc).__name__} {_step(url)}") from None
                timing.retries += 1
            except httpx2.TransportError as exc:
                raise FlowError(f"{type(exc).__name__} {_step(url)}") from None
        elapsed = time.perf_counter() - started
        timing.requests += 1
        if _origin(url) == self.target_origin:
            timing.target += elapsed
        else:
            timing.other += elapsed
        timing.steps.append(f"{method} {_step(url)} {response.status_code}")
        return response

    async def navigate(self, url: str, provider: str, timing: FlowTiming) -> str:
        """Go to `url` and on until the app's URL; answer that URL (success or failure)."""
        response = await self._send(timing, "GET", url)
        clicked = False
        for _ in range(MAX_STEPS):
            here = str(response.url)
            if response.status_code in _REDIRECTS:
                location = urljoin(here, response.headers.get("location", ""))
                if location.startswith(APP_ORIGIN):
                    return location
                response = await self._send(timing, "GET", location)
                continue
            page = response.text
            if response.status_code == 503 and _META_REFRESH.search(page):
                timing.busy += 1  # back-pressure: the page reloads itself, as a browser does
            elif response.status_code != 200:
                raise FlowError(f"HTTP {response.status_code} at {_step(here)}")
            if refresh := _META_REFRESH.search(page):
                wait = min(float(refresh.group(1)), self.max_refresh_wait)
                target = urljoin(here, html.unescape(refresh.group(2) or here))  # no url: reload
                if target.startswith(APP_ORIGIN):
                    return target
                await asyncio.sleep(wait)
                timing.refresh_wait += wait
                timing.target += wait
                response = await self._send(timing, "GET", target)
                continue
            if form := parse_consent_form(page):
                action, data = form
                response = await self._send(
                    timing,
                    "POST",
                    urljoin(here, action),
                    content=urlencode(data).encode(),
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                continue
            if not clicked and (href := provider_href(page, provider)):
                clicked = True
                response = await self._send(timing, "GET", urljoin(here, href))
                continue
            raise FlowError(f"stuck on a page at {_step(here)}")
        raise FlowError("too many steps")


def _step(url: str) -> str:
    """A URL's path with ids and tokens cut off, so errors group by step and print no secret."""
    path = urlsplit(url).path
    parts = path.strip("/").split("/")
    if parts and parts[0] == "link":
        return "/link/…" + ("/" + parts[2] if len(parts) > 2 else "")
    return path
