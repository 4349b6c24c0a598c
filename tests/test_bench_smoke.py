"""The benchmark harness works end to end in its tiniest mode (this is not a speed test)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_tiny_mode_completes_flows_on_every_target(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
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
