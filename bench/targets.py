"""The servers under test and the stand-ins: their ports, environments and uvicorn factories."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx2

from .config import (
    API_KEY,
    APP_ORIGIN,
    CLIENTS,
    FAILURE_URL,
    MICROSOFT_TENANT,
    SUCCESS_URL,
    UNIPILE_API_KEY,
    BenchConfig,
)
from .procs import Server, free_port


def _sandbox_wiring(sandbox: str) -> dict[str, str]:
    """The provider clients and upstream URLs both servers under test point at the sandbox."""
    return {
        "GOOGLE_CLIENT_ID": CLIENTS["google"][0],
        "GOOGLE_CLIENT_SECRET": CLIENTS["google"][1],
        "GOOGLE_METADATA_URL": f"{sandbox}/google/.well-known/openid-configuration",
        "MICROSOFT_CLIENT_ID": CLIENTS["microsoft"][0],
        "MICROSOFT_CLIENT_SECRET": CLIENTS["microsoft"][1],
        "MICROSOFT_TENANT": MICROSOFT_TENANT,
        "MICROSOFT_AUTHORITY": f"{sandbox}/microsoft",
        "MICROSOFT_GRAPH_URL": f"{sandbox}/graph",
        "UNIPILE_DSN": f"{sandbox}/unipile",
    }


@dataclass(frozen=True)
class TargetSpec:
    """A server the benchmark can start: which app, which kind of flow, how many workers."""

    name: str
    kind: str  # "service", "baseline" or "ceiling"
    factory: str
    port: int
    workers: int = 1


class Bench:
    """One benchmark session: the sandbox process, fixed ports for each target, a scratch folder."""

    def __init__(self, config: BenchConfig, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        self.sandbox_url = f"http://127.0.0.1:{free_port()}"
        self.targets: dict[str, TargetSpec] = {
            "service": TargetSpec("service", "service", "bench.service_app:create", free_port()),
            "service-workers": TargetSpec(
                f"service x{config.workers}",
                "service",
                "bench.service_app:create",
                free_port(),
                workers=config.workers,
            ),
            "baseline": TargetSpec("baseline", "baseline", "bench.baseline_app:create", free_port()),
            "ceiling": TargetSpec("ceiling", "ceiling", "bench.ceiling_app:create", free_port()),
        }
        self.sandbox: Server | None = None
        self._runs = 0

    def callback(self, spec: TargetSpec, provider: str) -> str:
        base = f"http://127.0.0.1:{spec.port}"
        return f"{base}/oauth/{provider}/callback" if spec.kind == "service" else f"{base}/auth/{provider}"

    def start_sandbox(self) -> None:
        uris = {
            provider: [self.callback(spec, provider) for spec in self.targets.values()]
            for provider in CLIENTS
        }
        port = int(self.sandbox_url.rsplit(":", 1)[1])
        env = {
            "BENCH_SANDBOX_URL": self.sandbox_url,
            "BENCH_LATENCY": json.dumps(asdict(self.config.latency)),
            "BENCH_REDIRECT_URIS": json.dumps(uris),
        }
        self.sandbox = Server("sandbox", "bench.sandbox_app:create", port, env, self.work_dir).wait_ready()

    def stop(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()

    def sandbox_stats(self) -> dict:
        return httpx2.get(f"{self.sandbox_url}/_bench/stats", timeout=30).json()

    def reset_sandbox(self) -> None:
        httpx2.post(f"{self.sandbox_url}/_bench/reset", timeout=30).raise_for_status()

    def _service_env(self, spec: TargetSpec) -> dict[str, str]:
        self._runs += 1
        sandbox = self.sandbox_url
        database = self.work_dir / f"service-{self._runs}.db"
        env = {
            "PUBLIC_URL": f"http://127.0.0.1:{spec.port}",
            "SECRET_KEYS": "bench-secret-key-number-one-0123456789",
            "API_KEYS": API_KEY,
            "ALLOWED_REDIRECT_ORIGINS": APP_ORIGIN,
            "DATABASE_URL": f"sqlite:///{database}",
            **_sandbox_wiring(sandbox),
            "UNIPILE_API_URL": f"{sandbox}/unipile",
            "UNIPILE_API_KEY": UNIPILE_API_KEY,
            "APP_NAME": "Bench Calendar",
            # Every simulated browser comes from 127.0.0.1: per-client limits would cap the load
            # generator, not measure the service. Real clients each have their own address.
            "RATE_LIMIT_START": "off",
            "RATE_LIMIT_CALLBACK": "off",
            "RATE_LIMIT_API": "off",
            "RATE_LIMIT_API_AUTH_FAILURES": "off",
        }
        if spec.workers > 1:
            # Several processes would race to create the tables; create them once beforehand.
            _migrate(env["DATABASE_URL"])
        return env

    def _baseline_env(self, spec: TargetSpec) -> dict[str, str]:
        sandbox = self.sandbox_url
        return {
            "PUBLIC_URL": f"http://127.0.0.1:{spec.port}",
            **_sandbox_wiring(sandbox),
            "UNIPILE_API_KEY": UNIPILE_API_KEY,
            "BASELINE_SUCCESS_URL": SUCCESS_URL,
            "BASELINE_FAILURE_URL": FAILURE_URL,
            "BASELINE_SESSION_SECRET": "bench-baseline-session-secret-0123456789",
        }

    def server(self, key: str) -> Server:
        """A fresh, not yet started server for target `key` (fresh database for the service)."""
        spec = self.targets[key]
        if spec.kind == "service":
            env = self._service_env(spec)
        elif spec.kind == "baseline":
            env = self._baseline_env(spec)
        else:
            env = {}
        return Server(spec.name, spec.factory, spec.port, env, self.work_dir, workers=spec.workers)


def _migrate(database_url: str) -> None:
    from oauth_service.store import Store

    async def run() -> None:
        store = Store.from_url(database_url)
        try:
            await store.migrate()
        finally:
            await store.close()

    asyncio.run(run())
