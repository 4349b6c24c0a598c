"""Print the figures as Markdown tables, so they read in a terminal and paste into the README."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Iterable
from pathlib import Path

from .config import BenchConfig
from .phases import FlowsRun, RssRun, StartRouteRun
from .stats import ratio


def _f(value: float, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def flows_table(runs: list[FlowsRun]) -> str:
    baseline = {run.k: run for run in runs if run.target == "baseline"}
    rows = []
    for run in runs:
        base = baseline.get(run.k)
        versus = _f(ratio(run.flows_per_s, base.flows_per_s), 2) + "x" if base and run is not base else "1x"
        errors = sum(run.errors.values())
        rows.append(
            [
                str(run.k),
                run.target,
                f"{run.completed}/{run.flows}",
                _f(run.flows_per_s),
                versus if base else "-",
                " / ".join(_f(v) for v in run.added_ms),
                _f(run.e2e_ms_p50, 0),
                str(errors),
                _f(run.cpu_per_1k, 2),
                _f(run.peak_rss_mb, 0),
            ]
        )
    return _table(
        [
            "K",
            "target",
            "ok/flows",
            "flows/s",
            "vs baseline",
            "added ms p50 / p95 / p99",
            "e2e p50 ms",
            "errors",
            "CPU s / 1k flows",
            "peak RSS MB",
        ],
        rows,
    )


def context_table(runs: list[FlowsRun]) -> str:
    rows = []
    for run in runs:
        fetches = run.fetch_counts
        rows.append(
            [
                str(run.k),
                run.target,
                f"{fetches['google']['discovery']} / {fetches['google']['jwks']}",
                f"{fetches['microsoft']['discovery']} / {fetches['microsoft']['jwks']}",
                str(run.flows_since_start),
                _f(1000 * run.loadgen_cpu / max(run.flows, 1), 2),
                _f(1000 * run.sandbox_cpu / max(run.flows, 1), 2),
                _f(run.refresh_wait_ms_p50, 0),
                str(run.retries),
                str(run.busy),
            ]
        )
    return _table(
        [
            "K",
            "target",
            "Google discovery / JWKS fetches",
            "Microsoft discovery / JWKS fetches",
            "flows since start",
            "load-gen CPU s / 1k",
            "stand-ins CPU s / 1k",
            "finishing-page wait p50 ms",
            "GETs retried",
            "503 busy answers",
        ],
        rows,
    )


def errors_block(runs: list[FlowsRun]) -> str:
    lines = []
    for run in runs:
        for kind, count in sorted(run.errors.items(), key=lambda item: -item[1]):
            lines.append(f"- K={run.k} {run.target}: {count} x {kind}")
    return "\n".join(lines) or "- none"


def start_table(runs: list[StartRouteRun]) -> str:
    ceiling = next((run for run in runs if run.target == "ceiling"), None)
    rows = []
    for run in runs:
        others = ", ".join(f"{status}: {n}" for status, n in run.other_statuses.items()) or "-"
        rows.append(
            [
                run.target,
                run.route,
                str(run.k),
                _f(run.redirects_per_s, 0),
                _f(100 * ratio(run.redirects_per_s, ceiling.redirects_per_s), 0) + " %" if ceiling else "-",
                _f(run.p99_ms),
                others,
                str(run.result.errors),
                _f(1000 * run.server_cpu / max(run.result.count(302), 1), 2),
            ]
        )
    return _table(
        ["target", "route", "K", "302/s", "of ceiling", "p99 ms", "other answers", "errors", "CPU s / 1k"],
        rows,
    )


def rss_line(run: RssRun) -> str:
    errors = sum(run.errors.values())
    return (
        f"service (1 worker), K={run.k}: RSS {run.before_mb:.0f} MB after {run.warmup} warm-up flows, "
        f"{run.after_mb:.0f} MB after {run.flows} more ({run.completed} ok, {errors} errors): "
        f"growth {100 * run.growth:+.1f} %"
    )


def header(config: BenchConfig, preset: str) -> str:
    lat = config.latency
    return (
        f"# oauth-service benchmark ({preset})\n\n"
        f"Machine: {machine()}\n"
        f"Injected upstream latency: token endpoint {1000 * lat.token:.0f} ms, "
        f"Graph {1000 * lat.graph:.0f} ms, Unipile {1000 * lat.unipile:.0f} ms; "
        f"providers alternate {', '.join(config.providers)}."
    )
