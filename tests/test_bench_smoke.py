"""The benchmark harness works end to end in its tiniest mode (this is not a speed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_tiny_mode_completes_flows_on_every_target(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--preset", "tiny", "--skip", "rss", "--json", str(out)],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert {run["target"] for run in figures["flows"]} == {"baseline", "service"}
    for run in figures["flows"]:
        assert run["completed"] == run["flows"] == 5, run["errors"]
    assert {run["target"] for run in figures["start_route"]} == {"ceiling", "service", "baseline"}
    assert all(run["redirects_per_s"] > 0 for run in figures["start_route"])
    assert "## Complete flows" in done.stdout


def test_simulated_browser_follows_the_finishing_page_to_the_app() -> None:
    """The durable hand-off may answer a page that refreshes itself; the browser must go on."""
    import asyncio

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, RedirectResponse
    from starlette.routing import Route

    from bench.browser import Browser, FlowTiming
    from bench.config import SUCCESS_URL
    from oauth_service.sandbox.loopback import LoopbackServer

    polls = {"n": 0}

    async def callback(request):
        return RedirectResponse("/finishing?flow=1", status_code=302)

    async def finishing(request):
        polls["n"] += 1
        if polls["n"] == 1:
            return HTMLResponse('<meta http-equiv="refresh" content="0;url=/finishing?flow=1&amp;again=1">')
        if polls["n"] == 2:
            return HTMLResponse('<meta http-equiv="refresh" content="0.1">')  # reload this page
        return RedirectResponse(f"{SUCCESS_URL}?account_id=acc", status_code=302)

    def app(url: str) -> Starlette:
        return Starlette(routes=[Route("/callback", callback), Route("/finishing", finishing)])

    with LoopbackServer(app) as server:

        async def go() -> tuple[str, FlowTiming]:
            browser, timing = Browser(server.url, 10, 1), FlowTiming()
            try:
                return await browser.navigate(f"{server.url}/callback", "google", timing), timing
            finally:
                await browser.aclose()

        landed, timing = asyncio.run(go())
    assert landed == f"{SUCCESS_URL}?account_id=acc"
    assert polls["n"] == 3 and timing.requests == 4
