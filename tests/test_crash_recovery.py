"""Real processes, real HTTP: a killed instance loses no consent, two instances share the work.

Each instance is `python -m oauth_service serve` in its own process behind a loopback load
balancer with one public URL, as in production.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import pytest

from oauth_service.sandbox import Fault

from .processes import Balancer, ServiceProcess, api, register
from .support import APP_ORIGIN, Browser, wait_for


class Cluster:
    """A balancer and the service instances behind it, all on one database."""

    def __init__(self, sandbox: Any, sandbox_url: str, database_url: str, log_dir, **env: str) -> None:
        self.sandbox = sandbox
        self.sandbox_url = sandbox_url
        self.database_url = database_url
        self.log_dir = log_dir
        self.env = env
        self.balancer = Balancer()
        self.url = self.balancer.url
        register(sandbox, self.url)
        self.instances: list[ServiceProcess] = []
        self.api = api(self.url)

    def instance(self, name: str) -> ServiceProcess:
        proc = ServiceProcess(self.url, self.sandbox_url, self.database_url, self.log_dir, name, **self.env)
        self.instances.append(proc.start())
        return proc

    def route_to(self, instance: ServiceProcess) -> None:
        self.balancer.target = instance.url

    def create_session(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "user-42", "success_redirect_url": f"{APP_ORIGIN}/success",
                "failure_redirect_url": f"{APP_ORIGIN}/failure", "state": "app-state-xyz"} | fields
        response = self.api.post("/api/link-sessions", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def session(self, session_id: str) -> dict[str, Any]:
        return self.api.get(f"/api/link-sessions/{session_id}").json()

    def close(self) -> None:
        for proc in self.instances:
            proc.stop()
        self.api.close()
        self.balancer.stop()


@pytest.fixture
def make_cluster(sandbox, sandbox_server, database_url, tmp_path) -> Iterator[Callable[..., Cluster]]:
    clusters: list[Cluster] = []

    def make(**env: str) -> Cluster:
        cluster = Cluster(sandbox, sandbox_server.url, database_url(), tmp_path, **env)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


def consent_to_callback(cluster: Cluster, browser: Browser, provider: str = "google", **fields: Any):
    created = cluster.create_session(**fields)
    page = browser.open_link(created["url"])
    redirect = browser.consent(browser.choose(page, provider))
    return created, urljoin(str(redirect.url), redirect.headers["location"])


def test_kill_9_after_the_token_exchange_then_restart_links_exactly_once(make_cluster, browser, sandbox):
    cluster = make_cluster(UPSTREAM_TIMEOUT_SECONDS="1")
    first = cluster.instance("first")
    cluster.route_to(first)
    # Unipile answers nothing: the inline attempt is in flight when the process dies.
    sandbox.unipile.enqueue(Fault.hang(30))
    created, callback = consent_to_callback(cluster, browser)
    try:
        browser.http.get(callback, timeout=0.8)
    except Exception:  # noqa: S110 (the callback is still waiting on Unipile)
        pass
    wait_for(lambda: [r for r in sandbox.unipile.requests if r.method == "POST"])
    first.kill()
    second = cluster.instance("second")
    cluster.route_to(second)
    wait_for(lambda: cluster.session(created["id"])["status"] == "linked")
    assert cluster.session(created["id"])["account_id"] in sandbox.unipile.accounts
    assert len(sandbox.unipile.accounts) == 1
    # The browser's finishing page (served by the new process) sends the person on to the app.
    finishing = created["url"].replace("/link/", "/finishing/")
    assert browser.get(finishing).headers["location"].startswith(f"{APP_ORIGIN}/success?")


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_flow_started_on_one_instance_completes_on_another(make_cluster, browser, sandbox):
    cluster = make_cluster()
    a, b = cluster.instance("a"), cluster.instance("b")
    cluster.route_to(a)
    created, callback = consent_to_callback(cluster, browser)
    cluster.route_to(b)
    outcome = browser.finish(browser.get(callback))
    assert outcome.ok
    assert cluster.session(created["id"])["status"] == "linked"
    # The same callback replayed on the other instance is refused.
    cluster.route_to(a)
    replay = browser.get(callback)
    assert replay.status_code == 400 and 'data-error="state_invalid"' in replay.text
    assert len(sandbox.unipile.accounts) == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_hand_offs_left_by_a_killed_instance_are_completed_by_the_other(make_cluster, browser, sandbox):
    cluster = make_cluster(UPSTREAM_TIMEOUT_SECONDS="1")
    a, b = cluster.instance("a"), cluster.instance("b")
    cluster.route_to(a)
    sandbox.unipile.failure_rate = 1.0
    created, callback = consent_to_callback(cluster, browser)
    page = browser.follow(browser.get(callback), refresh_for=0)
    assert "/finishing/" in str(page.url)
    a.kill()
    sandbox.unipile.failure_rate = 0.0
    cluster.route_to(b)
    outcome = browser.finish(page)
    assert outcome.ok
    assert len(sandbox.unipile.accounts) == 1
    assert cluster.session(created["id"])["status"] == "linked"


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_instances_starting_together_migrate_safely(make_cluster):
    cluster = make_cluster()
    procs = [ServiceProcess(cluster.url, cluster.sandbox_url, cluster.database_url, cluster.log_dir, f"s{i}")
             for i in range(3)]
    threads = [threading.Thread(target=proc.start, kwargs={"timeout": 30}) for proc in procs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cluster.instances.extend(procs)
    assert all(proc.proc is not None and proc.proc.poll() is None for proc in procs)
    cluster.route_to(procs[-1])
    assert cluster.create_session()["status"] == "pending"
