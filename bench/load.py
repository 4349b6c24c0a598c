"""The load generator: K simulated browsers running complete flows against one target at once."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx2

from .browser import Browser, FlowError, FlowTiming
from .config import API_KEY, FAILURE_URL, SUCCESS_URL, BenchConfig


@dataclass
class FlowResult:
    """One flow as the browser lived it."""

    provider: str
    ok: bool
    error: str | None
    e2e: float
    target: float
    injected: float
    refresh_wait: float
    retries: int = 0
    busy: int = 0

    @property
    def added(self) -> float:
        """What the server under test added on top of the upstream latency it had to wait for."""
        return self.target - self.injected


@dataclass
class LoadResult:
    """Every flow of one run, and the wall time they took."""

    flows: list[FlowResult] = field(default_factory=list)
    wall: float = 0.0

    @property
    def completed(self) -> int:
        return sum(1 for flow in self.flows if flow.ok)

    def errors(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for flow in self.flows:
            if not flow.ok:
                key = flow.error or "?"
                counts[key] = counts.get(key, 0) + 1
        return counts


class FlowStarter:
    """How a flow begins on a target: the service's app backend creates a link session; the
    baseline has none, so the browser opens its login route directly."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url
        self.api = httpx2.AsyncClient(
            base_url=url,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=60,
            limits=httpx2.Limits(max_connections=50, max_keepalive_connections=50),
        )

    async def aclose(self) -> None:
        await self.api.aclose()

    async def first_url(self, n: int, provider: str, timing: FlowTiming) -> str:
        if self.kind == "baseline":
            return f"{self.url}/login/{provider}"
        body = {
            "name": f"bench-{n}",
            "providers": [provider],
            "success_redirect_url": SUCCESS_URL,
            "failure_redirect_url": FAILURE_URL,
            "state": f"s{n}",
        }
        started = time.perf_counter()
        while True:
            try:
                answer = await self.api.post("/api/link-sessions", json=body)
            except httpx2.TransportError as exc:
                raise FlowError(f"{type(exc).__name__} POST /api/link-sessions") from None
            timing.requests += 1
            if answer.status_code != 503 or "retry-after" not in answer.headers:
                break
            timing.busy += 1  # back-pressure: an app backend waits as it is told, then asks again
            await asyncio.sleep(float(answer.headers["retry-after"]))
        timing.target += time.perf_counter() - started
        if answer.status_code != 201:
            raise FlowError(f"HTTP {answer.status_code} at POST /api/link-sessions")
        return answer.json()["url"]


async def run_load(kind: str, url: str, k: int, flows: int, config: BenchConfig) -> LoadResult:
    """Run `flows` complete flows with `k` browsers at once; every browser has its own cookie jar."""
    starter = FlowStarter(kind, url)
    browsers = [Browser(url, config.flow_timeout, config.max_refresh_wait) for _ in range(k)]
    numbers = itertools.count()
    result = LoadResult()

    async def one(browser: Browser, n: int) -> FlowResult:
        provider = config.providers[n % len(config.providers)]
        timing = FlowTiming()
        started = time.perf_counter()
        browser.reset()
        try:
            async with asyncio.timeout(config.flow_timeout):
                first = await starter.first_url(n, provider, timing)
                landed = await browser.navigate(first, provider, timing)
            error = None if landed.startswith(SUCCESS_URL) else "failure redirect: " + _error_of(landed)
        except FlowError as exc:
            error = exc.kind
        except TimeoutError:
            error = "flow timeout"
        e2e = time.perf_counter() - started
        injected = config.latency.per_flow(provider)
        return FlowResult(
            provider, error is None, error, e2e, timing.target, injected, timing.refresh_wait, timing.retries,
            timing.busy,
        )

    async def worker(browser: Browser) -> None:
        while (n := next(numbers)) < flows:
            result.flows.append(await one(browser, n))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(browser) for browser in browsers))
    finally:
        result.wall = time.perf_counter() - started
        await asyncio.gather(*(browser.aclose() for browser in browsers))
        await starter.aclose()
    return result


def _error_of(url: str) -> str:
    """The failure's code and the start of its description: enough to tell causes apart."""
    query = parse_qs(urlsplit(url).query)
    description = query.get("error_description", [""])[0][:240]
    return query.get("error", ["?"])[0] + (f" ({description})" if description else "")
