"""The soak: 300 complete flows against a Unipile that fails 30 % of calls at random, with one
`kill -9` of the service in the middle. Every link session must end linked, with no duplicate
account and none lost. A person whose page broke while the service was down does what people
do: reloads, or opens the link again.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urljoin

import httpx2
import pytest

from .processes import ServiceProcess
from .support import APP_ORIGIN, Browser, provider_href
from .test_crash_recovery import make_cluster  # noqa: F401 (fixture)

FLOWS = 300
BROWSERS = 8
FAILURE_RATE = 0.3
PATIENCE = 600  # reloads 0.1 s apart: a minute for the killed service to come back, on a busy machine


class Person:
    """Drives one link to its end, retrying as a person would when a page fails to load."""

    def __init__(self, cluster, index: int, stats: dict, lock: threading.Lock) -> None:
        self.cluster = cluster
        self.email = f"soak-{index}@example.com"
        self.stats = stats
        self.lock = lock

    def count(self, key: str) -> None:
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    def get(self, browser: Browser, url: str) -> httpx2.Response:
        for _ in range(PATIENCE):
            try:
                response = browser.get(url)
                if response.status_code != 502:  # the balancer: the instance is down
                    return response
            except httpx2.TransportError:
                pass
            self.count("reloads")
            time.sleep(0.1)
        raise AssertionError(f"{url} never answered")

    def run(self) -> str:
        session = None
        for _ in range(PATIENCE):
            try:
                session = self.cluster.create_session(name=self.email)
                break
            except (httpx2.TransportError, AssertionError):
                self.count("api_retries")
                time.sleep(0.1)
        assert session is not None
        browser = Browser()
        try:
            for _attempt in range(10):
                page = self.get(browser, session["url"])
                if page.status_code in (302, 303):  # already linking: the finishing page
                    final = browser.follow(page, refresh_for=120)
                else:
                    href = provider_href(page.text, "google")
                    consent = browser.follow(self.get(browser, urljoin(str(page.url), href)))
                    redirect = browser.consent(consent, email=self.email)
                    callback = urljoin(str(redirect.url), redirect.headers["location"])
                    final = browser.follow(self.get(browser, callback), refresh_for=120)
                location = final.headers.get("location", "")
                if location.startswith(f"{APP_ORIGIN}/success"):
                    return session["id"]
                self.count("person_restarts")  # an error page or failure: open the link again
            raise AssertionError(f"{self.email} never linked")
        finally:
            browser.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_soak_300_flows_with_random_unipile_failures_and_a_kill_9(make_cluster, sandbox, tmp_path):  # noqa: F811
    # 300 people from one loopback address: per-client rate limits would count them as one.
    cluster = make_cluster(
        UPSTREAM_TIMEOUT_SECONDS="2", RATE_LIMIT_START="off", RATE_LIMIT_CALLBACK="off", RATE_LIMIT_API="off"
    )
    first = cluster.instance("first")
    cluster.route_to(first)
    sandbox.unipile.failure_rate = FAILURE_RATE
    stats: dict = {}
    lock = threading.Lock()
    done: list[str] = []
    started = time.monotonic()

    def one(i: int) -> str:
        session_id = Person(cluster, i, stats, lock).run()
        with lock:
            done.append(session_id)
        return session_id

    def killer() -> None:
        while len(done) < FLOWS // 2:
            time.sleep(0.05)
        first.kill()
        stats["killed_after_flows"] = len(done)
        second = ServiceProcess(cluster.url, cluster.sandbox_url, cluster.database_url, cluster.log_dir,
                                "second", **cluster.env)
        cluster.instances.append(second.start())
        cluster.route_to(second)

    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    with ThreadPoolExecutor(BROWSERS) as pool:
        session_ids = list(pool.map(one, range(FLOWS)))
    kill_thread.join()
    elapsed = time.monotonic() - started

    statuses = [cluster.session(s) for s in session_ids]
    accounts = list(sandbox.unipile.accounts.values())
    usernames = [a.username.lower() for a in accounts]
    posts = [r for r in sandbox.unipile.requests if r.method == "POST"]
    figures = {
        "flows": FLOWS,
        "linked": sum(s["status"] == "linked" for s in statuses),
        "accounts": len(accounts),
        "duplicates": len(usernames) - len(set(usernames)),
        "lost": FLOWS - len({s["account_id"] for s in statuses if s["account_id"]}),
        "unipile_account_posts": len(posts),
        "seconds": round(elapsed, 1),
        **stats,
    }
    out = Path("test-artifacts")
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_text(json.dumps(figures, indent=2))
    print("soak figures:", figures)
    assert figures["linked"] == FLOWS, figures
    assert figures["duplicates"] == 0, figures
    assert figures["lost"] == 0, figures
    assert figures["accounts"] == FLOWS, figures
