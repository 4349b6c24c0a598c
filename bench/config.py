"""What one benchmark run measures, in one place, so the report can print exactly what was run."""

from __future__ import annotations

from dataclasses import dataclass, field

from oauth_service.sandbox.users import SANDBOX_TENANT_ID

APP_ORIGIN = "https://app.example.com"
SUCCESS_URL = f"{APP_ORIGIN}/success"
FAILURE_URL = f"{APP_ORIGIN}/failure"
API_KEY = "bench-api-key-0123456789abcdef"
UNIPILE_API_KEY = "sandbox-unipile-key"
CLIENTS = {
    "google": ("bench-google-client", "bench-google-secret"),
    "microsoft": ("bench-microsoft-client", "bench-microsoft-secret"),
}
# A single-tenant Microsoft app for both the service and the baseline: with "common" the
# recipe's issuer check (the discovery document's "{tenantid}" template) cannot pass.
MICROSOFT_TENANT = SANDBOX_TENANT_ID


@dataclass(frozen=True)
class Latency:
    """Upstream latency injected into the sandbox stand-ins, in seconds."""

    token: float = 0.050
    graph: float = 0.030
    unipile: float = 0.100

    def per_flow(self, provider: str) -> float:
        """Injected time one complete flow waits on: code exchange, Graph /me (Microsoft), Unipile."""
        return self.token + self.unipile + (self.graph if provider == "microsoft" else 0.0)


@dataclass(frozen=True)
class BenchConfig:
    """Everything a run depends on; the presets are `full`, `quick` and `tiny`."""

    concurrency: tuple[int, ...] = (50, 200, 1000)
    flows_per_run: int = 1000
    min_rounds: int = 1  # at least this many flows per simulated browser (1: K=1000 is one burst)
    workers: int = 2
    segments: int = 4  # targets take turns in up to this many segments per K (see phases.flows_runs)
    providers: tuple[str, ...] = ("google", "microsoft")
    targets: tuple[str, ...] = ("baseline", "service", "service-workers")
    latency: Latency = field(default_factory=Latency)
    start_route_k: int = 50
    start_route_seconds: float = 5.0
    rss_flows: int = 10_000
    rss_warmup: int = 200
    rss_k: int = 200
    flow_timeout: float = 120.0
    max_refresh_wait: float = 10.0
    profile: bool = False

    def flows_for(self, k: int) -> int:
        return max(self.flows_per_run, self.min_rounds * k)


PRESETS: dict[str, BenchConfig] = {
    "full": BenchConfig(),
    "quick": BenchConfig(
        concurrency=(10, 50),
        flows_per_run=150,
        min_rounds=2,
        start_route_k=20,
        start_route_seconds=2.0,
        rss_flows=1000,
        rss_warmup=50,
        rss_k=50,
    ),
    "tiny": BenchConfig(
        concurrency=(2,),
        flows_per_run=5,
        min_rounds=1,
        workers=2,
        targets=("baseline", "service"),
        start_route_k=2,
        start_route_seconds=0.5,
        rss_flows=5,
        rss_warmup=2,
        rss_k=2,
        flow_timeout=30.0,
    ),
}
