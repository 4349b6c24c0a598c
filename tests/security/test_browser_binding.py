"""Login CSRF, session swapping and link-session fixation (RFC 9700 4.7, 2.1).

A flow is bound to the browser that started it by a random secret in an HttpOnly cookie whose
hash the flow records; a link session is bound to the first browser that starts a flow from
its page. Viewing the page binds nothing, so a mail scanner's preview or a page whose answer was
lost takes the link from nobody; a start must prove, with the page's `proof`, that this browser
was shown the page, so a start URL planted elsewhere binds nobody either.
"""

from __future__ import annotations

import pytest

from oauth_service.sandbox import Fault

from ..conftest import BACKENDS
from ..support import provider_href, sql
from .helpers import (
    RecordingBrowser,
    assert_error_page,
    assert_refused_cleanly,
    cookie_value,
    expire_session,
    set_binding_cookie,
    to_callback,
)


def _link_from(browser, page):
    return browser.finish(browser.consent(browser.choose(page, "google")))


def test_callback_without_the_binding_cookie_is_refused(service, browser, sandbox):
    _, callback = to_callback(service, browser)
    browser.http.cookies.clear()
    assert_error_page(browser.get(callback), "browser_mismatch")
    assert_refused_cleanly(sandbox)


def test_callback_with_another_browsers_cookie_is_refused(service, browser, other_browser, sandbox):
    # Session swapping: the attacker's own authorization response, delivered to a victim who
    # has a binding cookie of their own (from opening their own link).
    victims_link = service.create_session()
    other_browser.open_link(victims_link["url"])
    _, attackers_callback = to_callback(service, browser)
    assert_error_page(other_browser.get(attackers_callback), "browser_mismatch")
    assert_refused_cleanly(sandbox)


def test_callback_with_a_stale_binding_cookie_is_refused(service, browser, sandbox):
    # The browser's cookie from an earlier link, put back after a new flow started elsewhere.
    earlier = service.create_session()
    browser.open_link(earlier["url"])
    stale = cookie_value(browser)
    browser.http.cookies.clear()
    _, callback = to_callback(service, browser)
    assert cookie_value(browser) != stale
    set_binding_cookie(browser, stale)
    assert_error_page(browser.get(callback), "browser_mismatch")
    assert_refused_cleanly(sandbox)


def test_forwarded_callback_burns_nothing_for_the_rightful_browser(service, browser, other_browser, sandbox):
    _, callback = to_callback(service, browser)
    assert_error_page(other_browser.get(callback), "browser_mismatch")
    assert_refused_cleanly(sandbox)
    assert browser.finish(browser.get(callback)).ok


@pytest.mark.parametrize("backend", BACKENDS)
def test_link_opened_in_a_second_browser_after_the_first_started_is_refused(
    service, browser, other_browser, sandbox
):
    created = service.create_session()
    assert browser.click(browser.open_link(created["url"]), "google").status_code == 302
    sandbox.reset()
    assert_error_page(other_browser.get(created["url"]), "browser_mismatch", 403)
    assert_error_page(other_browser.get(created["url"] + "/google"), "browser_mismatch", 403)
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize("backend", BACKENDS)
def test_of_two_browsers_shown_the_page_the_first_to_start_owns_it(service, browser, other_browser, sandbox):
    created = service.create_session()
    first_page = browser.open_link(created["url"])
    second_page = other_browser.open_link(created["url"])
    assert other_browser.click(second_page, "google").status_code == 302
    assert_error_page(browser.click(first_page, "google"), "browser_mismatch", 403)
    assert_error_page(browser.click(first_page, "hosted"), "browser_mismatch", 403)
    assert len(sql(service, "SELECT id FROM flows WHERE link_session_id = :id", id=created["id"])) == 1


def test_a_preview_of_the_link_takes_it_from_nobody(service, browser, sandbox):
    # Mail scanners (Safe Links and the like) and chat unfurls open links before people do.
    created = service.create_session()
    scanner = RecordingBrowser()
    try:
        preview = scanner.open_link(created["url"])
        assert 'data-provider="google"' in preview.text
    finally:
        scanner.close()
    bound = sql(service, "SELECT browser_hash FROM link_sessions WHERE id = :id", id=created["id"])
    assert bound == [{"browser_hash": None}]
    assert _link_from(browser, browser.open_link(created["url"])).ok


def test_a_link_page_answer_lost_on_the_way_loses_nothing(service, browser, sandbox):
    # The service crashed (or the network dropped) after answering the page, before its cookie
    # reached the browser: the person reloads with no cookie and must still be able to link.
    created = service.create_session()
    browser.open_link(created["url"])
    browser.http.cookies.clear()
    assert _link_from(browser, browser.open_link(created["url"])).ok


def test_start_url_planted_with_the_planters_proof_binds_nobody(service, browser, other_browser, sandbox):
    # The attacker copies the button of their own view of the page into the victim's page.
    created = service.create_session()
    planted = provider_href(other_browser.open_link(created["url"]).text, "google")
    browser.open_link(service.create_session()["url"])  # the victim has a binding cookie too
    assert_error_page(browser.get(service.url + planted), "browser_mismatch", 403)
    assert service.session(created["id"])["status"] == "pending"
    assert_refused_cleanly(sandbox)


def test_start_without_opening_the_link_first_is_refused(service, browser, sandbox):
    # A start URL planted in a victim's page: without the page's proof there is no flow.
    created = service.create_session()
    fresh = RecordingBrowser()
    try:
        assert_error_page(fresh.get(created["url"] + "/google"), "browser_mismatch", 403)
    finally:
        fresh.close()
    browser.open_link(created["url"])  # a cookie, but no proof in the URL
    assert_error_page(browser.get(created["url"] + "/google"), "browser_mismatch", 403)
    assert_error_page(browser.get(created["url"] + "/google?proof=" + "0" * 32), "browser_mismatch", 403)
    assert service.session(created["id"])["status"] == "pending"
    assert_refused_cleanly(sandbox)


def test_link_reused_after_it_linked_is_refused(service, browser, other_browser, sandbox):
    created, callback = to_callback(service, browser)
    outcome = browser.finish(browser.get(callback))
    assert outcome.ok
    sandbox.reset()
    # Its own browser coming back is shown where it ended; nothing new can start, from anywhere.
    again = browser.get(created["url"])
    assert again.status_code == 303 and again.headers["location"] == outcome.url
    assert_error_page(browser.get(created["url"] + "/google"), "session_expired", 410)
    assert_error_page(other_browser.get(created["url"]), "session_expired", 410)
    assert_error_page(other_browser.get(created["url"] + "/google"), "session_expired", 410)
    assert_refused_cleanly(sandbox)


def test_expired_link_is_refused(service, browser, sandbox):
    created = service.create_session()
    expire_session(service, created["id"])
    assert_error_page(browser.get(created["url"]), "session_expired", 410)
    assert_error_page(browser.get(created["url"] + "/microsoft"), "session_expired", 410)
    assert_refused_cleanly(sandbox)


def test_finishing_page_of_someone_elses_link_shows_them_nothing(service, browser, other_browser, sandbox):
    # While a hand-off is pending the browser waits on /finishing/{link token}; that page (and
    # its JSON poll) tells the outcome, account id included, to the owning browser only.
    sandbox.unipile.enqueue(*[Fault.status(503)] * 3)
    _, callback = to_callback(service, browser)
    waiting = browser.get(callback)
    assert waiting.status_code == 303 and "/finishing/" in waiting.headers["location"]
    finishing = waiting.headers["location"]
    assert_error_page(other_browser.get(finishing), "browser_mismatch", 403)
    assert_error_page(other_browser.get(finishing + "?poll=1"), "browser_mismatch", 403)
    assert browser.finish(browser.get(finishing)).ok
    assert_error_page(other_browser.get(finishing + "?poll=1"), "browser_mismatch", 403)
