"""The three measurements: complete flows at each K, the start route against the ceiling, RSS growth."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx2

from .browser import provider_href
from .config import API_KEY, FAILURE_URL, SUCCESS_URL, BenchConfig
from .load import LoadResult, run_load
from .procs import RssSampler
from .profile import Profiler
from .rawload import RawResult, get_request, hammer
from .stats import percentile
from .targets import Bench

MB = 1024 * 1024


@dataclass
class FlowsRun:
    """One target at one K: what the browsers saw and what the server spent."""

    target: str
    k: int
    flows: int
    completed: int
    wall: float
    errors: dict[str, int]
    added_ms: tuple[float, float, float]  # p50, p95, p99
    e2e_ms_p50: float
    refresh_wait_ms_p50: float
    server_cpu: float
    peak_rss_mb: float
    loadgen_cpu: float
    sandbox_cpu: float
    fetch_counts: dict[str, dict[str, int]]
    flows_since_start: int
    retries: int = 0
    busy: int = 0

    @property
    def flows_per_s(self) -> float:
        return self.completed / self.wall if self.wall else 0.0

    @property
    def cpu_per_1k(self) -> float:
        return 1000 * self.server_cpu / self.completed if self.completed else float("nan")


def _summarise(
    target: str,
    k: int,
    load: LoadResult,
    server_cpu: float,
    peak: int,
    loadgen_cpu: float,
    sandbox_cpu: float,
    fetch_counts: dict,
    flows_since_start: int,
) -> FlowsRun:
    ok = [flow for flow in load.flows if flow.ok]
    added = [1000 * flow.added for flow in ok]
    return FlowsRun(
        target=target,
        k=k,
        flows=len(load.flows),
        completed=load.completed,
        wall=load.wall,
        errors=load.errors(),
        added_ms=(percentile(added, 50), percentile(added, 95), percentile(added, 99)),
        e2e_ms_p50=percentile([1000 * flow.e2e for flow in ok], 50),
        refresh_wait_ms_p50=percentile([1000 * flow.refresh_wait for flow in ok], 50),
        server_cpu=server_cpu,
        peak_rss_mb=peak / MB,
        loadgen_cpu=loadgen_cpu,
        sandbox_cpu=sandbox_cpu,
        fetch_counts=fetch_counts,
        flows_since_start=flows_since_start,
        retries=sum(flow.retries for flow in load.flows),
        busy=sum(flow.busy for flow in load.flows),
    )


WARMUP_FLOWS = 4


def _fetches(bench: Bench) -> dict[str, dict[str, int]]:
    return bench.sandbox_stats()["fetch_counts"]


def _add_fetches(total: dict[str, dict[str, int]], before: dict, after: dict) -> None:
    for provider, counts in after.items():
        for what, n in counts.items():
            mine = total.setdefault(provider, {}).setdefault(what, 0)
            total[provider][what] = mine + n - before[provider][what]


@dataclass
class _Tally:
    """What one target accumulated over the segments of one K."""

    load: LoadResult = field(default_factory=LoadResult)
    server_cpu: float = 0.0
    peak: int = 0
    loadgen_cpu: float = 0.0
    sandbox_cpu: float = 0.0
    fetches: dict[str, dict[str, int]] = field(default_factory=dict)
    flows_since_start: int = 0


def segments_for(config: BenchConfig, k: int, flows: int) -> int:
    """How many alternating segments a K's flows are cut into (each at least 2K flows long)."""
    return max(1, min(config.segments, flows // (2 * k)))


def flows_runs(bench: Bench, keys: list[str], k: int, flows: int, profile_key: str | None) -> list[FlowsRun]:
    """Measure every target at one K, each fresh and warmed, in alternating segments.

    The machine is shared, so background load drifts; cutting each target's flows into segments
    that take turns (baseline, service, service x N, baseline, ...) exposes them to the same drift.
    Fetch counts and CPU are read around each segment, so they belong to the target being driven
    (the others sit idle meanwhile). With `profile_key`, py-spy samples that target's segments.
    """
    config = bench.config
    assert bench.sandbox is not None
    sandbox = bench.sandbox
    bench.reset_sandbox()
    segments = segments_for(config, k, flows)
    per_segment = -(-flows // segments)
    tallies = {key: _Tally() for key in keys}
    servers = {key: bench.server(key) for key in keys}
    try:
        for key, server in servers.items():
            before = _fetches(bench)
            server.wait_ready()
            asyncio.run(run_load(bench.targets[key].kind, server.url, 2, WARMUP_FLOWS, config))
            _add_fetches(tallies[key].fetches, before, _fetches(bench))
            tallies[key].flows_since_start = WARMUP_FLOWS
        for segment in range(segments):
            for key, server in servers.items():
                tally, kind = tallies[key], bench.targets[key].kind
                count = min(per_segment, flows - segment * per_segment)
                profile_to = bench.work_dir / f"profile-{segment}.txt" if key == profile_key else None
                profiling = Profiler(server.proc.pid, profile_to) if profile_to else contextlib.nullcontext()
                before = _fetches(bench)
                cpu0, own0, sb0 = server.cpu_seconds(), time.process_time(), sandbox.cpu_seconds()
                with RssSampler(server.proc.pid) as rss, profiling:
                    load = asyncio.run(run_load(kind, server.url, k, count, config))
                tally.server_cpu += server.cpu_seconds() - cpu0
                tally.loadgen_cpu += time.process_time() - own0
                tally.sandbox_cpu += sandbox.cpu_seconds() - sb0
                tally.peak = max(tally.peak, rss.peak)
                tally.load.flows += load.flows
                tally.load.wall += load.wall
                tally.flows_since_start += len(load.flows)
                _add_fetches(tally.fetches, before, _fetches(bench))
    finally:
        for server in servers.values():
            server.stop()
    return [
        _summarise(
            bench.targets[key].name,
            k,
            t.load,
            t.server_cpu,
            t.peak,
            t.loadgen_cpu,
            t.sandbox_cpu,
            t.fetches,
            t.flows_since_start,
        )
        for key, t in tallies.items()
    ]


@dataclass
class StartRouteRun:
    """Requests per second of one target's start route (or the ceiling's bare 302)."""

    target: str
    route: str
    k: int
    result: RawResult
    server_cpu: float

    @property
    def redirects_per_s(self) -> float:
        return self.result.count(302) / self.result.seconds if self.result.seconds else 0.0

    @property
    def other_statuses(self) -> dict[int, int]:
        return {status: n for status, n in self.result.statuses.items() if status != 302}

    @property
    def p99_ms(self) -> float:
        return 1000 * percentile(self.result.latencies, 99)


async def _service_start_requests(url: str, k: int) -> list[bytes]:
    """K browsers that each opened a link page (so hold its binding cookie and its buttons'
    start proof): their start requests."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    async with httpx2.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    ) as api:
        sessions = []
        for n in range(k):
            body = {
                "name": f"start-{n}",
                "providers": ["google"],
                "success_redirect_url": SUCCESS_URL,
                "failure_redirect_url": FAILURE_URL,
            }
            answer = await api.post("/api/link-sessions", json=body)
            answer.raise_for_status()
            sessions.append(answer.json()["url"])
    requests = []
    for link in sessions:
        async with httpx2.AsyncClient(timeout=60) as browser:
            page = (await browser.get(link)).raise_for_status()
            cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
        href = provider_href(page.text, "google")
        assert href is not None, "the link page has no Google button"
        requests.append(get_request(host, port, href, cookie))
    return requests


def start_route_run(bench: Bench, key: str) -> StartRouteRun:
    """Hammer one target's start route with K keep-alive connections for a fixed time."""
    config, spec = bench.config, bench.targets[key]
    k, host = config.start_route_k, "127.0.0.1"
    bench.reset_sandbox()
    with bench.server(key) as server:
        if spec.kind == "service":
            requests = asyncio.run(_service_start_requests(server.url, k))
            route = "GET /link/{token}/google"
        elif spec.kind == "baseline":
            requests = [get_request(host, spec.port, "/login/google")] * k
            route = "GET /login/google"
        else:
            requests = [get_request(host, spec.port, "/start")] * k
            route = "GET /start (bare 302)"
        asyncio.run(hammer(host, spec.port, requests[: min(k, 4)], 0.3))  # warm-up: caches, discovery
        cpu0 = server.cpu_seconds()
        result = asyncio.run(hammer(host, spec.port, requests, config.start_route_seconds))
        cpu1 = server.cpu_seconds()
    return StartRouteRun(spec.name, route, k, result, cpu1 - cpu0)


@dataclass
class RssRun:
    """The service's RSS after a warm-up and after many more flows on the same process."""

    flows: int
    warmup: int
    k: int
    before_mb: float
    after_mb: float
    completed: int
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return (self.after_mb - self.before_mb) / self.before_mb if self.before_mb else float("nan")


def rss_run(bench: Bench, key: str = "service") -> RssRun:
    """RSS of one fresh service process before and after `rss_flows` flows."""
    config, spec = bench.config, bench.targets[key]
    bench.reset_sandbox()
    with bench.server(key) as server:
        asyncio.run(run_load(spec.kind, server.url, config.rss_k, config.rss_warmup, config))
        before = server.rss_bytes()
        load = asyncio.run(run_load(spec.kind, server.url, config.rss_k, config.rss_flows, config))
        after = server.rss_bytes()
    return RssRun(
        config.rss_flows,
        config.rss_warmup,
        config.rss_k,
        before / MB,
        after / MB,
        load.completed,
        load.errors(),
    )
