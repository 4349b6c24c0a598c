"""The security suite's browsers record every answer, so any test can search them for leaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oauth_service.sandbox.loopback import LoopbackServer

from ..support import RunningService
from .helpers import RecordingBrowser


@pytest.fixture(scope="module")
def shared_service(sandbox_server: LoopbackServer, tmp_path_factory) -> Iterator[RunningService]:
    """One service for a module's many API-only probes (no flows: nothing to keep apart)."""
    db = tmp_path_factory.mktemp("shared") / "service.db"
    service = RunningService(sandbox_server.app.state.sandbox, sandbox_server.url, f"sqlite:///{db}")
    yield service
    service.stop()


@pytest.fixture
def backend() -> str:
    """The attacks are refused by application code, the same on either database: they run on
    SQLite, and the few whose defence is an atomic store operation run on both (they say so)."""
    return "sqlite"


@pytest.fixture
def browser() -> Iterator[RecordingBrowser]:
    b = RecordingBrowser()
    yield b
    b.close()


@pytest.fixture
def other_browser() -> Iterator[RecordingBrowser]:
    b = RecordingBrowser()
    yield b
    b.close()
