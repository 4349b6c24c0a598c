"""Back-pressure: past MAX_CONCURRENT_REQUESTS in flight, a 503 with Retry-After at once, on a
page that tries again by itself; nothing is lost, and the same request goes through later.
"""

from __future__ import annotations

import re
import threading
import time

from oauth_service.sandbox import Fault

from .security.helpers import to_callback
from .support import Browser, wait_for


def hold_two_callbacks(service, sandbox, browsers):
    """Two callbacks left waiting on a slow Unipile: two requests in flight."""
    callbacks = [to_callback(service, b)[1] for b in browsers]
    sandbox.unipile.enqueue(Fault.hang(1.5), Fault.hang(1.5))
    outcomes: list = []
    threads = [
        threading.Thread(target=lambda b=b, c=c: outcomes.append(b.finish(b.get(c))))
        for b, c in zip(browsers, callbacks, strict=True)
    ]
    for t in threads:
        t.start()
    wait_for(lambda: len([r for r in sandbox.unipile.requests if r.method == "POST"]) == 2, timeout=10)
    return threads, outcomes


def test_past_the_limit_a_person_gets_a_page_that_retries_by_itself(make_service, browser, sandbox):
    service = make_service(MAX_CONCURRENT_REQUESTS="2", BUSY_RETRY_AFTER_SECONDS="3")
    created = service.create_session()  # made before the limit is reached
    holders = [Browser(), Browser()]
    try:
        threads, outcomes = hold_two_callbacks(service, sandbox, holders)
        busy = browser.get(created["url"])
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "3"
        assert 'data-error="busy"' in busy.text
        path = created["url"].removeprefix(service.url)
        assert re.search(rf'<meta http-equiv="refresh" content="3;url={re.escape(path)}">', busy.text)
        assert "set-cookie" not in busy.headers  # nothing was done, nothing was set
        # The probes an orchestrator uses still answer.
        assert browser.get(f"{service.url}/healthz").status_code == 200
        for t in threads:
            t.join(10)
        assert [o.ok for o in outcomes] == [True, True]
        # The reload the page asks for now goes through, and the link works.
        assert browser.open_link(created["url"]).status_code == 200
    finally:
        for b in holders:
            b.close()


def test_past_the_limit_the_api_answers_a_problem_with_retry_after(make_service, sandbox):
    service = make_service(MAX_CONCURRENT_REQUESTS="2")
    holders = [Browser(), Browser()]
    try:
        threads, _ = hold_two_callbacks(service, sandbox, holders)
        answer = service.api.post("/api/link-sessions", json={"name": "u", "success_redirect_url": "x"})
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == 503
        for t in threads:
            t.join(10)
        time.sleep(0.1)
        assert service.create_session()["id"]
    finally:
        for b in holders:
            b.close()


def test_a_callback_refused_as_busy_completes_when_the_page_reloads(make_service, browser, sandbox):
    service = make_service(MAX_CONCURRENT_REQUESTS="2")
    _, callback = to_callback(service, browser)  # consented before the limit is reached
    holders = [Browser(), Browser()]
    try:
        threads, _ = hold_two_callbacks(service, sandbox, holders)
        busy = browser.get(callback)
        assert busy.status_code == 503 and 'data-error="busy"' in busy.text
        refresh = re.search(r'<meta http-equiv="refresh" content="2;url=([^"]+)">', busy.text)
        assert refresh is not None
        for t in threads:
            t.join(10)
        again = service.url + refresh.group(1).replace("&amp;", "&")
        assert browser.finish(browser.get(again)).ok
    finally:
        for b in holders:
            b.close()
