"""`python -m bench`: run every measurement of issue 7 and print the tables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .config import PRESETS, BenchConfig, Latency
from .phases import FlowsRun, StartRouteRun, flows_runs, rss_run, start_route_run
from .profile import summarise
from .targets import Bench


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def parse_config(argv: list[str] | None) -> tuple[BenchConfig, str, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="full", help="full (default), quick, tiny"
    )
    parser.add_argument(
        "--quick", action="store_const", const="quick", dest="preset", help="same as --preset quick"
    )
    parser.add_argument(
        "-k", "--concurrency", type=_ints, help="simulated browsers per run, e.g. 50,200,1000"
    )
    parser.add_argument("--flows", type=int, help="flows per run (at least 2 per browser)")
    parser.add_argument("--workers", type=int, help="uvicorn workers for the multi-worker run")
    parser.add_argument("--targets", help="comma list of baseline,service,service-workers")
    parser.add_argument("--providers", help="comma list of google,microsoft (flows alternate)")
    parser.add_argument("--token-latency", type=float, help="provider token endpoint, seconds (0.05)")
    parser.add_argument("--graph-latency", type=float, help="Graph /me, seconds (0.03)")
    parser.add_argument("--unipile-latency", type=float, help="Unipile API, seconds (0.1)")
    parser.add_argument("--start-seconds", type=float, help="duration of each start-route run")
    parser.add_argument("--rss-flows", type=int, help="flows between the two RSS readings (10000)")
    parser.add_argument("--skip", default="", help="comma list of phases to skip: flows,start,rss")
    parser.add_argument("--profile", action="store_true", help="py-spy the 1-worker service at the largest K")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, databases)")
    args = parser.parse_args(argv)
    config = PRESETS[args.preset]
    latency = config.latency
    changes: dict = {}
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    if args.flows:
        changes["flows_per_run"] = args.flows
    if args.workers:
        changes["workers"] = args.workers
    if args.targets:
        changes["targets"] = tuple(args.targets.split(","))
    if args.providers:
        changes["providers"] = tuple(args.providers.split(","))
    if args.start_seconds:
        changes["start_route_seconds"] = args.start_seconds
    if args.profile:
        changes["profile"] = True
    if args.rss_flows:
        changes["rss_flows"] = args.rss_flows
    changes["latency"] = Latency(
        token=latency.token if args.token_latency is None else args.token_latency,
        graph=latency.graph if args.graph_latency is None else args.graph_latency,
        unipile=latency.unipile if args.unipile_latency is None else args.unipile_latency,
    )
    return dataclasses.replace(config, **changes), args.preset, args


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    # Stop the servers on SIGTERM and SIGINT too (a background shell ignores SIGINT otherwise).
    signal.signal(signal.SIGTERM, _exit_on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    config, preset, args = parse_config(argv)
    skip = set(args.skip.split(",")) - {""}
    work_dir = Path(tempfile.mkdtemp(prefix="oauth-bench-"))
    print(report.header(config, preset), flush=True)
    bench = Bench(config, work_dir)
    flows: list[FlowsRun] = []
    starts: list[StartRouteRun] = []
    rss = None
    began = time.monotonic()
    try:
        bench.start_sandbox()
        if "flows" not in skip:
            for k in config.concurrency:
                profile_key = "service" if config.profile and k == max(config.concurrency) else None
                runs = flows_runs(bench, list(config.targets), k, config.flows_for(k), profile_key)
                flows += runs
                for run in runs:
                    print(
                        f"  K={k:<5} {run.target:<12} {run.flows_per_s:7.1f} flows/s, "
                        f"{sum(run.errors.values())} errors",
                        file=sys.stderr,
                        flush=True,
                    )
        if "start" not in skip:
            for key in ("ceiling", "service", "baseline"):
                starts.append(start_route_run(bench, key))
        if "rss" not in skip:
            rss = rss_run(bench)
    finally:
        bench.stop()
    print(f"\n(ran {time.monotonic() - began:.0f} s; scratch folder {work_dir})\n")
    if flows:
        print("## Complete flows\n")
        print(report.flows_table(flows) + "\n")
        print(report.context_table(flows) + "\n")
        print("Errors by kind:\n" + report.errors_block(flows) + "\n")
    if starts:
        window = f"K={config.start_route_k}, {config.start_route_seconds:g} s each"
        print(f"## Start route vs a bare 302 ({window})\n")
        print(report.start_table(starts) + "\n")
    if rss:
        print("## Memory\n\n" + report.rss_line(rss) + "\n")
    if profiles := sorted(work_dir.glob("profile-*.txt")):
        k = max(config.concurrency)
        print(f"## Where the service's CPU went (1 worker, K={k}, py-spy)\n")
        print(summarise(profiles) + "\n")
    if args.json:
        payload = {
            "preset": preset,
            "config": dataclasses.asdict(config),
            "machine": report.machine(),
            "flows": [dataclasses.asdict(run) | {"flows_per_s": run.flows_per_s} for run in flows],
            "start_route": [
                {
                    "target": s.target,
                    "route": s.route,
                    "k": s.k,
                    "redirects_per_s": s.redirects_per_s,
                    "other_statuses": s.other_statuses,
                    "errors": s.result.errors,
                    "p99_ms": s.p99_ms,
                }
                for s in starts
            ],
            "rss": dataclasses.asdict(rss) | {"growth": rss.growth} if rss else None,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    if not args.keep:
        import shutil

        shutil.rmtree(work_dir, ignore_errors=True)
    failed = any(run.completed == 0 for run in flows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
