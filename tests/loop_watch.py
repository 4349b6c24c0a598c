"""The service on asyncio's debug loop, saying on stderr which callbacks held the loop too long.

`python tests/loop_watch.py PORT THRESHOLD_SECONDS`, configured by the environment like
`oauth-service serve`. asyncio's debug mode times every callback (every step of every task)
and logs `Executing <…> took N seconds` for each one over `slow_callback_duration`: a step that
long is a step in which no other person's request moved. Used by test_event_loop.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time

import uvicorn

from oauth_service.app import create_app
from oauth_service.settings import load_settings


def main() -> None:
    port, threshold = int(sys.argv[1]), float(sys.argv[2])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("asyncio: %(message)s"))
    watched = logging.getLogger("asyncio")
    watched.addHandler(handler)
    watched.setLevel(logging.WARNING)
    watched.propagate = False
    app = create_app(load_settings(env_file=None))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="none", log_level="warning", access_log=False
    )
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = threshold
    _report_gc_pauses(threshold)
    loop.run_until_complete(uvicorn.Server(config).serve())


def _report_gc_pauses(threshold: float) -> None:
    """The cyclic garbage collector also holds the loop; say so, so a slow step can be told apart."""
    started: list[float] = []

    def timing(phase: str, info: dict) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started and (took := time.perf_counter() - started[0]) > threshold / 4:
            print(f"gc: generation {info['generation']} took {took:.3f} seconds", file=sys.stderr, flush=True)

    gc.callbacks.append(timing)


if __name__ == "__main__":
    main()
