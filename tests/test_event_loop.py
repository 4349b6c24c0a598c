"""Nothing the service does holds its event loop: every step of every request is short.

The service runs in its own process on asyncio's debug loop (tests/loop_watch.py), which times
each callback and reports the slow ones. Complete flows of every kind then go through it; a
single step over the threshold (a blocking call, a CPU-heavy loop, a synchronous read, a long
garbage collection) fails.

The threshold is 30 ms of debug-mode time. Debug mode records a traceback for every future and
task it creates, which about doubles a step's cost; the slowest steps of a flow (the callback's
token validation) measure 10-20 ms under it on these shared machines, so 30 ms is ~15 ms of
real time with room for noise. What it is there to catch is far above: before `gc.freeze()` at
start-up, a full collection held the loop for 51 ms; a blocking HTTP call would be 50+ ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

from oauth_service.sandbox import Fault

from .processes import ServiceProcess
from .support import link
from .test_crash_recovery import make_cluster  # noqa: F401 (fixture)

THRESHOLD_SECONDS = 0.030
WATCHER = Path(__file__).with_name("loop_watch.py")


def watched_lines(log: Path, since: int, prefix: str) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()[since:]
    return [line for line in lines if line.startswith(prefix)]


def test_no_step_of_any_flow_holds_the_event_loop(make_cluster, browser, sandbox):  # noqa: F811
    cluster = make_cluster(UPSTREAM_TIMEOUT_SECONDS="2")
    watched = ServiceProcess(
        cluster.url, cluster.sandbox_url, cluster.database_url, cluster.log_dir, "watched",
        command=lambda port: [sys.executable, str(WATCHER), str(port), str(THRESHOLD_SECONDS)],
        **cluster.env,
    )
    cluster.instances.append(watched.start())
    cluster.route_to(watched)
    # Warm-up: the first of everything (templates compiled, SQL cached, JWKS fetched) is allowed.
    for provider in ("google", "microsoft"):
        assert link(cluster, browser, provider)[1].ok
        browser.http.cookies.clear()
    since = len(watched.log_path.read_text(errors="replace").splitlines())

    for provider in ("google", "microsoft") * 3:
        assert link(cluster, browser, provider)[1].ok
        browser.http.cookies.clear()
    # A new person for the unticked scope: Google keeps what this one granted before.
    refusals = (
        ({"allow": False}, "access_denied"),
        ({"untick": ("calendar",), "email": "new@example.com"}, "missing_scopes"),
    )
    for kwargs, code in refusals:
        outcome = link(cluster, browser, "google", **kwargs)[1]
        assert outcome.params.get("error") == code, outcome.url
        browser.http.cookies.clear()
    sandbox.unipile.enqueue(Fault.status(503))  # the inline attempt fails; the worker links it
    assert link(cluster, browser, "microsoft")[1].ok

    # Any garbage collection long enough to matter is named beside the slow steps.
    slow = watched_lines(watched.log_path, since, "asyncio: Executing")
    assert slow == [], watched_lines(watched.log_path, since, "gc:")
