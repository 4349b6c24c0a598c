"""Serve an ASGI app on a loopback port from a background thread, for tests and benchmarks.

The socket is bound before the app is built, so an app that must know its own URL
(an OpenID provider publishing its issuer) can be given it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 (or another loopback host) running in a thread."""

    def __init__(
        self,
        app_factory: Callable[[str], Any],
        host: str = "127.0.0.1",
        url_host: str | None = None,
        lifespan: str = "on",
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{url_host or host}:{self.port}"
        self.app = app_factory(self.url)
        config = uvicorn.Config(
            self.app, lifespan=lifespan, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"srv-{self.port}")

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
