"""Real service processes for the fault tests, behind a loopback load balancer.

`Balancer` plays the part of the load balancer in front of several instances: one public URL,
requests forwarded to whichever instance it is pointed at, headers passed through untouched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauth_service.sandbox.loopback import LoopbackServer

from .support import API_KEY, CLIENTS, service_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Balancer:
    """Forwards every request to `target` (an instance's base URL)."""

    def __init__(self) -> None:
        self.target = ""
        # A proxy keeps no cookies: a shared jar would hand one person's binding cookie to the next.
        no_jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        self.http = httpx2.AsyncClient(timeout=30, cookies=no_jar)
        self.server = LoopbackServer(self._app, url_host="localhost").start()
        self.url = self.server.url

    def _app(self, _url: str) -> Starlette:
        async def forward(request: Request) -> Response:
            headers = [(k, v) for k, v in request.headers.items() if k not in ("host", "content-length")]
            try:
                upstream = await self.http.request(
                    request.method, f"{self.target}{request.url.path}",
                    params=request.url.query, headers=headers, content=await request.body(),
                )
            except httpx2.TransportError:
                return Response("instance unreachable", status_code=502)
            passed = [(k, v) for k, v in upstream.headers.multi_items()
                      if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")]
            response = Response(upstream.content, status_code=upstream.status_code)
            response.raw_headers = [(k.encode(), v.encode()) for k, v in passed] + [
                (b"content-length", str(len(upstream.content)).encode())
            ]
            return response

        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", forward, methods=methods)])

    def stop(self) -> None:
        self.server.stop()


class ServiceProcess:
    """`python -m oauth_service serve` in its own process, killable with SIGKILL.

    `command`, given the port, may start the same service another way (see loop_watch.py).
    """

    def __init__(self, public_url: str, sandbox_url: str, database_url: str, log_dir: Path, name: str,
                 command: Any = None, **env: str) -> None:
        self.port = free_port()
        self.command = command or (
            lambda port: [
                sys.executable, "-m", "oauth_service", "serve", "--host=127.0.0.1", f"--port={port}"
            ]
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = service_env(public_url, sandbox_url, database_url, **env)
        self.log_path = log_dir / f"{name}.log"
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        ours = ("GOOGLE_", "MICROSOFT_", "UNIPILE_", "WEBHOOK_")
        environ = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        environ.update(self.env)
        log = open(self.log_path, "ab")  # the child keeps it open
        self.proc = subprocess.Popen(
            self.command(self.port), env=environ, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx2.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, exactly like a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def register(sandbox: Any, public_url: str) -> None:
    for name, (client_id, secret) in CLIENTS.items():
        getattr(sandbox, name).register_client(client_id, secret, [f"{public_url}/oauth/{name}/callback"])


def api(public_url: str) -> httpx2.Client:
    return httpx2.Client(base_url=public_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20)
