"""Fixtures: one sandbox (Google, Microsoft, Graph, Unipile) per run; a fresh service per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from oauth_service.sandbox import Sandbox
from oauth_service.sandbox.loopback import LoopbackServer

from .support import Browser, RunningService


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer(lambda url: Sandbox(url).app).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: LoopbackServer) -> Iterator[Sandbox]:
    sb = sandbox_server.app.state.sandbox
    sb.reset()
    yield sb
    sb.reset()


@pytest.fixture
def make_service(
    sandbox: Sandbox, sandbox_server: LoopbackServer, tmp_path
) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def make(**env: str) -> RunningService:
        db = env.pop("DATABASE_URL", f"sqlite:///{tmp_path}/service-{len(started)}.db")
        service = RunningService(sandbox, sandbox_server.url, db, **env)
        started.append(service)
        return service

    yield make
    for service in started:
        service.stop()


@pytest.fixture
def service(make_service: Callable[..., RunningService]) -> RunningService:
    return make_service()


@pytest.fixture
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def other_browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()
