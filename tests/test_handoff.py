"""The durable hand-off: every transient failure is retried until linked exactly once; a
refusal is final; ambiguous failures never produce a second account; tokens do not outlive
their use; the app is told by signed webhooks."""

from __future__ import annotations

import time

import pytest

from oauth_service.sandbox import Fault
from oauth_service.sandbox.loopback import LoopbackServer
from oauth_service.webhooks import SIGNATURE_HEADER, verify

from .receiver import Receiver
from .support import APP_ORIGIN, link, sql, wait_for


def account_posts(sandbox) -> list:
    return [r for r in sandbox.unipile.requests if r.method == "POST" and "/accounts" in r.path]


def handoff_rows(service) -> list[dict]:
    return sql(service, "SELECT * FROM handoffs")


def test_unipile_down_for_a_while_links_once_after_retries(service, browser, sandbox):
    sandbox.unipile.enqueue(Fault.status(503), Fault.status(503), Fault.status(502))
    created, outcome = link(service, browser, "google")
    assert outcome.ok, outcome.params
    assert any("/finishing/" in url for url in browser.visited)
    assert len(account_posts(sandbox)) == 4
    assert len(sandbox.unipile.accounts) == 1
    assert service.session(created["id"])["status"] == "linked"


def test_429_retry_after_is_honoured(service, browser, sandbox):
    sandbox.unipile.enqueue(Fault.status(429, retry_after=1))
    _, outcome = link(service, browser, "google")
    assert outcome.ok
    first, second = account_posts(sandbox)
    assert second.received_at - first.received_at >= 0.95


def test_a_refusal_is_final_and_not_retried(service, browser, sandbox):
    sandbox.unipile.enqueue(Fault.status(400, body={"status": 400, "title": "Bad request"}))
    created, outcome = link(service, browser, "google")
    assert outcome.params["error"] == "unipile_rejected"
    time.sleep(0.5)
    assert len(account_posts(sandbox)) == 1
    assert service.session(created["id"])["status"] == "failed"


def test_no_answer_after_creation_adopts_the_account_instead_of_creating_a_second(
    service, browser, sandbox
):
    sandbox.unipile.enqueue(Fault.succeed_then_drop())
    _, outcome = link(service, browser, "google", email="ada@example.com")
    assert outcome.ok, outcome.params
    assert len(sandbox.unipile.accounts) == 1
    assert outcome.params["account_id"] in sandbox.unipile.accounts
    assert any(r.method == "GET" and r.path == "/api/v1/accounts" for r in sandbox.unipile.requests)
    assert len(account_posts(sandbox)) == 1


def test_a_call_hanging_past_the_timeout_is_retried_once_safe(make_service, browser, sandbox):
    service = make_service(UPSTREAM_TIMEOUT_SECONDS="1")
    sandbox.unipile.enqueue(Fault.hang(3))
    _, outcome = link(service, browser, "microsoft")
    assert outcome.ok, outcome.params
    assert len(sandbox.unipile.accounts) == 1


def test_unreachable_until_the_deadline_fails_with_unipile_unavailable(make_service, browser, sandbox):
    # Nothing listens on port 9 of loopback: every connection is refused.
    service = make_service(UNIPILE_DSN="http://127.0.0.1:9", HANDOFF_DEADLINE_SECONDS="1.5")
    created, outcome = link(service, browser, "google")
    assert outcome.url.startswith(f"{APP_ORIGIN}/failure?")
    assert outcome.params["error"] == "unipile_unavailable"
    assert service.session(created["id"])["error"] == "unipile_unavailable"
    (row,) = handoff_rows(service)
    assert row["sealed"] is None and row["status"] == "gave_up"


def test_tokens_are_sealed_while_pending_and_deleted_once_linked(service, browser, sandbox):
    sandbox.unipile.failure_rate = 1.0
    created = service.create_session()
    page = browser.open_link(created["url"])
    redirect = browser.consent(browser.choose(page, "google"))
    finishing = browser.get(redirect.headers["location"])
    assert finishing.status_code == 303 and "/finishing/" in finishing.headers["location"]
    page = browser.get(finishing.headers["location"])
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    assert "finishing.js" in page.text  # polls with JavaScript, refreshes without
    (row,) = handoff_rows(service)
    issued = [t for t, info in sandbox.google.issued_tokens.items()]
    assert row["sealed"] and not any(t in row["sealed"] for t in issued)
    assert service.session(created["id"])["status"] == "linking"
    sandbox.unipile.failure_rate = 0.0
    outcome = browser.finish(page)
    assert outcome.ok
    (row,) = handoff_rows(service)
    assert row["sealed"] is None and row["status"] == "done"


def test_finishing_page_answers_its_poll_with_the_outcome(service, browser, sandbox):
    sandbox.unipile.enqueue(Fault.status(503))
    created = service.create_session()
    page = browser.open_link(created["url"])
    redirect = browser.consent(browser.choose(page, "google"))
    finishing_url = browser.get(redirect.headers["location"]).headers["location"]
    deadline = time.monotonic() + 10
    location = None
    while location is None and time.monotonic() < deadline:
        location = browser.get(f"{finishing_url}?poll=1").json()["location"]
        time.sleep(0.1)
    assert location and location.startswith(f"{APP_ORIGIN}/success?")


@pytest.fixture
def receiver():
    rec = Receiver()
    server = LoopbackServer(rec.app).start()
    rec.url = f"{server.url}/hook"
    yield rec
    server.stop()


def test_webhooks_are_signed_and_tell_each_outcome(make_service, browser, sandbox, receiver):
    service = make_service(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET="whsec-test")
    created, outcome = link(service, browser, "google", email="ada@example.com")
    link(service, browser, "microsoft", allow=False)
    link(service, browser, "google", reconnect_account=outcome.params["account_id"])
    wait_for(lambda: len(receiver.deliveries) >= 3)
    types = sorted(d.json["type"] for d in receiver.deliveries)
    assert types == ["account.link_failed", "account.linked", "account.reconnected"]
    for delivery in receiver.deliveries:
        assert verify("whsec-test", delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
        assert not verify("other-secret", delivery.headers[SIGNATURE_HEADER.lower()], delivery.body)
    linked = next(d.json for d in receiver.deliveries if d.json["type"] == "account.linked")
    assert linked["id"].startswith("evt_")
    assert linked["data"] == {
        "link_session": created["id"], "name": "user-42", "provider": "google",
        "account_id": outcome.params["account_id"], "email": "ada@example.com",
        "state": "app-state-xyz", "error": None, "error_description": None,
    }
    failed = next(d.json for d in receiver.deliveries if d.json["type"] == "account.link_failed")
    assert failed["data"]["error"] == "access_denied"


def test_webhook_deliveries_are_retried_with_a_stable_id(make_service, browser, sandbox, receiver):
    receiver.answer(500, 503)
    service = make_service(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET="whsec-test")
    link(service, browser, "google")
    wait_for(lambda: len(receiver.deliveries) >= 3)
    ids = {d.json["id"] for d in receiver.deliveries}
    assert len(ids) == 1
    time.sleep(0.5)
    assert len(receiver.deliveries) == 3
