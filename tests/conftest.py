"""Fixtures: one sandbox (Google, Microsoft, Graph, Unipile) per run; a fresh service per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from oauth_service.sandbox import Sandbox
from oauth_service.sandbox.loopback import LoopbackServer

from .postgres import PostgresServer
from .support import Browser, RunningService

BACKENDS = ("sqlite", "postgresql")


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that runs the service runs it on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path) -> Callable[[], str]:
    """Makes a fresh database of the test's backend each time it is called."""
    count = iter(range(1000))

    def new() -> str:
        if backend == "postgresql":
            return request.getfixturevalue("postgres").new_database()
        return f"sqlite:///{tmp_path}/service-{next(count)}.db"

    return new


@pytest.fixture
def make_service(
    sandbox: Sandbox, sandbox_server: LoopbackServer, database_url: Callable[[], str]
) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def make(**env: str) -> RunningService:
        db = env.pop("DATABASE_URL", None) or database_url()
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
