"""A sandbox on loopback per test module, with the clients registered that the tests play."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from oauth_service.sandbox import Sandbox
from oauth_service.sandbox.loopback import LoopbackServer

from .oauth_client import CLIENTS, REDIRECT_URI, OAuthClient


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda url: Sandbox(url).app) as srv:
        sandbox: Sandbox = srv.app.state.sandbox
        for name, (client_id, secret) in CLIENTS.items():
            getattr(sandbox, name).register_client(client_id, secret, [REDIRECT_URI])
        yield srv


@pytest.fixture
def sandbox(server: LoopbackServer) -> Sandbox:
    sandbox: Sandbox = server.app.state.sandbox
    sandbox.reset()
    return sandbox


@pytest.fixture
def http(server: LoopbackServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=5, trust_env=False) as client:
        yield client


@pytest.fixture
def oauth(http: httpx2.Client, server: LoopbackServer, sandbox: Sandbox) -> OAuthClient:
    return OAuthClient(http, server.url)
