"""Attacks on the `state` parameter: forged, cut, re-signed, stale, replayed, raced (RFC 9700 4.7).

State is a signed, expiring reference to a server-side flow that is consumed exactly once.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx2
import pytest

from ..conftest import BACKENDS
from .helpers import (
    assert_error_page,
    assert_failure_redirect,
    assert_no_unipile_call,
    assert_refused_cleanly,
    to_callback,
    unipile_posts,
)


def with_state(callback: str, transform) -> str:
    """`callback` with its state parameter replaced by transform(state)."""
    parts = urlsplit(callback)
    query = [(k, transform(v) if k == "state" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def state_of(callback: str) -> str:
    return dict(parse_qsl(urlsplit(callback).query))["state"]


def test_tampered_state_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    state = state_of(callback)
    payload, _, rest = state.partition(".")
    for forged in (
        "A" + state[1:] if state[0] != "A" else "B" + state[1:],  # payload changed
        payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + rest,
        state[:-8] + ("A" * 8 if not state.endswith("A" * 8) else "B" * 8),  # signature changed
        state.replace(".", "..", 1),
    ):
        assert_error_page(browser.get(with_state(callback, lambda _, f=forged: f)), "state_invalid")
    assert_refused_cleanly(sandbox)


def test_truncated_state_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    state = state_of(callback)
    for cut in (state[: len(state) // 2], state[:-1], state.rsplit(".", 1)[0], ""):
        assert_error_page(browser.get(with_state(callback, lambda _, c=cut: c)), "state_invalid")
    assert_refused_cleanly(sandbox)


def test_missing_state_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    parts = urlsplit(callback)
    query = [q for q in parse_qsl(parts.query) if q[0] != "state"]
    without = urlunsplit(parts._replace(query=urlencode(query)))
    assert_error_page(browser.get(without), "state_invalid")
    assert_refused_cleanly(sandbox)


def test_state_signed_with_a_retired_key_is_refused(make_service, browser, sandbox, tmp_path):
    # The key that signed the state was removed from SECRET_KEYS after its grace period.
    db = f"sqlite:///{tmp_path}/shared.db"
    old = make_service(DATABASE_URL=db, SECRET_KEYS="the-old-key-0123456789")
    _, callback = to_callback(old, browser)
    rotated = make_service(DATABASE_URL=db, SECRET_KEYS="the-new-key-0123456789")
    assert_error_page(browser.get(callback.replace(old.url, rotated.url)), "state_invalid")
    assert_refused_cleanly(sandbox)


def test_expired_state_is_refused(make_service, browser, sandbox):
    service = make_service(STATE_TTL_SECONDS="1")
    created, callback = to_callback(service, browser)
    time.sleep(2.2)
    # A genuine but stale state fails its own session (the app learns why), and exchanges nothing.
    assert_failure_redirect(browser.get(callback), "state_expired")
    assert_refused_cleanly(sandbox)
    assert service.session(created["id"])["error"] == "state_expired"
    # And the same stale state cannot be used twice to fail the session again.
    assert_error_page(browser.get(callback), "state_invalid")


@pytest.mark.parametrize("backend", BACKENDS)
def test_replayed_state_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    assert browser.finish(browser.get(callback)).ok
    exchanges = len(sandbox.google.token_requests)
    assert_error_page(browser.get(callback), "state_invalid")
    assert len(sandbox.google.token_requests) == exchanges == 1
    assert len(unipile_posts(sandbox)) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_replayed_state_racing_the_first_callback_is_refused(service, browser, sandbox):
    # Two callbacks with the same state and cookie at the same instant: one wins, one is refused.
    sandbox.google.script(token_latency=0.3)
    created, callback = to_callback(service, browser)
    clients = [httpx2.Client(cookies=browser.http.cookies, timeout=20) for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    answers: list[httpx2.Response] = []

    def race(client: httpx2.Client) -> None:
        barrier.wait()
        answers.append(client.get(callback))

    threads = [threading.Thread(target=race, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    won = [a for a in answers if a.status_code in (302, 303)]
    lost = [a for a in answers if a.status_code == 400]
    assert len(won) == 1 and len(lost) == len(clients) - 1, [a.status_code for a in answers]
    for answer in lost:
        assert 'data-error="state_invalid"' in answer.text
    assert len(sandbox.google.token_requests) == 1
    assert len(unipile_posts(sandbox)) == 1
    assert service.session(created["id"])["status"] == "linked"


def test_state_of_another_persons_flow_cannot_complete_this_one(service, browser, other_browser, sandbox):
    # Two people, two sessions: swapping the states between their callbacks links nobody.
    _, mine = to_callback(service, browser)
    _, theirs = to_callback(service, other_browser)
    assert_error_page(browser.get(with_state(mine, lambda _: state_of(theirs))), "browser_mismatch")
    assert_error_page(other_browser.get(with_state(theirs, lambda _: state_of(mine))), "browser_mismatch")
    assert_refused_cleanly(sandbox)
    assert_no_unipile_call(sandbox)
