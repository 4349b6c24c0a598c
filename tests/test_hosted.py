"""The hosted-auth fallback, both API generations, finishing exactly like the custom flow:
same link session, same redirects, same status answers, same webhooks."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest

from oauth_service.sandbox import Fault
from oauth_service.sandbox.driver import parse_form

from .support import APP_ORIGIN, Browser, provider_href, wait_for
from .test_handoff import receiver  # noqa: F401 (fixture)


def open_wizard(service, browser: Browser, choice: str = "hosted", **fields):
    """Create a session, open its page, pick the hosted choice; answers (session, wizard page)."""
    created = service.create_session(**fields)
    page = browser.open_link(created["url"])
    start = browser.get(urljoin(str(page.url), provider_href(page.text, choice)))
    assert start.status_code == 302, start.text[:300]
    wizard = browser.get(start.headers["location"])
    assert wizard.status_code == 200
    return created, wizard


def answer_wizard(browser: Browser, wizard: httpx2.Response, action: str, email: str = "") -> httpx2.Response:
    form = parse_form(wizard.text, str(wizard.url))
    return browser.http.post(urljoin(str(wizard.url), form.action), data={"action": action, "email": email})


def hosted_requests(sandbox, path: str) -> list:
    return [r for r in sandbox.unipile.requests if r.path == path]


def test_v1_create_sends_the_documented_body_and_links_after_the_notify(service, browser, sandbox):
    created, wizard = open_wizard(service, browser)
    (request,) = hosted_requests(sandbox, "/api/v1/hosted/accounts/link")
    body = request.json
    assert body["type"] == "create"
    assert body["providers"] == "*:CALENDAR"
    assert body["api_url"] == service.env["UNIPILE_DSN"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["expiresOn"])
    assert body["success_redirect_url"].startswith(f"{service.url}/hosted/return/")
    assert body["notify_url"].startswith(f"{service.url}/hosted/notify/")
    assert body["name"] == created["id"]
    outcome = browser.finish(answer_wizard(browser, wizard, "google", "ada@example.com"))
    assert outcome.ok, outcome.params
    assert outcome.params["provider"] == "google"
    assert outcome.params["link_session"] == created["id"] and outcome.params["state"] == "app-state-xyz"
    assert outcome.params["account_id"] in sandbox.unipile.accounts
    status = service.session(created["id"])
    assert status["status"] == "linked" and status["email"] == "ada@example.com"


def test_v1_notify_after_the_browser_returns_shows_the_finishing_page_until_it_comes(
    service, browser, sandbox
):
    sandbox.unipile.notify_delay = 1.0
    created, wizard = open_wizard(service, browser)
    back = browser.follow(answer_wizard(browser, wizard, "outlook", "grace@contoso.example"), refresh_for=0)
    assert "/finishing/" in str(back.url) and back.status_code == 200
    assert service.session(created["id"])["status"] == "linking"
    outcome = browser.finish(back)
    assert outcome.ok and outcome.params["provider"] == "microsoft"


def test_v1_notify_before_the_browser_returns(service, browser, sandbox):
    created, wizard = open_wizard(service, browser)
    sandbox.unipile.notify_enabled = True
    redirect = answer_wizard(browser, wizard, "google")
    wait_for(lambda: sandbox.unipile.notifications)
    wait_for(lambda: service.session(created["id"])["status"] == "linked")
    outcome = browser.finish(redirect)
    assert outcome.ok


def test_v1_reconnect_names_the_account(service, browser, sandbox):
    account = sandbox.unipile.add_account("GOOGLE_OAUTH", sandbox.google.user_for("ada@example.com"))
    _created, wizard = open_wizard(service, browser, reconnect_account=account.id)
    (request,) = hosted_requests(sandbox, "/api/v1/hosted/accounts/link")
    assert request.json["type"] == "reconnect" and request.json["reconnect_account"] == account.id
    outcome = browser.finish(answer_wizard(browser, wizard, "google"))
    assert outcome.ok and outcome.params["account_id"] == account.id


def test_v1_wizard_failure_ends_on_the_failure_url(service, browser, sandbox):
    created, wizard = open_wizard(service, browser)
    outcome = browser.finish(answer_wizard(browser, wizard, "fail"))
    assert outcome.url.startswith(f"{APP_ORIGIN}/failure?")
    assert outcome.params["error"] == "provider_error"
    assert service.session(created["id"])["status"] == "failed"


def test_forged_notify_is_refused_and_changes_nothing(service, browser, sandbox):
    created, _ = open_wizard(service, browser)
    (request,) = hosted_requests(sandbox, "/api/v1/hosted/accounts/link")
    notify_url = request.json["notify_url"]

    def notify(url: str, account_id: str, name: str = created["id"]) -> int:
        body = {"status": "CREATION_SUCCESS", "account_id": account_id, "name": name}
        return httpx2.post(url, json=body).status_code

    assert notify(notify_url + "x", "evil") == 403
    assert notify(notify_url, "evil", name="ls_other") == 404
    assert service.session(created["id"])["status"] == "authorizing"
    # A genuine notify links; the same again changes nothing; one naming another account is refused.
    real = sandbox.unipile.add_account("GOOGLE_OAUTH", sandbox.google.user_for("ada@example.com"))
    assert notify(notify_url, real.id) == 200
    assert notify(notify_url, real.id) == 200
    assert notify(notify_url, "evil") == 409
    assert service.session(created["id"])["account_id"] == real.id


def test_hosted_link_creation_failure_gives_hosted_unavailable(service, browser, sandbox):
    sandbox.unipile.enqueue(Fault.status(503), path=r"/api/v1/hosted/accounts/link")
    created = service.create_session()
    page = browser.open_link(created["url"])
    outcome = browser.finish(browser.get(urljoin(str(page.url), provider_href(page.text, "hosted"))))
    assert outcome.params["error"] == "hosted_unavailable"


def test_provider_without_our_client_is_offered_through_the_wizard(make_service, browser, sandbox):
    service = make_service(MICROSOFT_CLIENT_ID="", MICROSOFT_CLIENT_SECRET="")
    _created, wizard = open_wizard(service, browser, choice="microsoft")
    (request,) = hosted_requests(sandbox, "/api/v1/hosted/accounts/link")
    assert request.json["providers"] == ["OUTLOOK"]
    outcome = browser.finish(answer_wizard(browser, wizard, "outlook"))
    assert outcome.ok and outcome.params["provider"] == "microsoft"


def test_failures_the_wizard_can_rescue_offer_it(service, browser, sandbox):
    from .support import link

    sandbox.unipile.enqueue(Fault.status(400, body={"title": "Invalid credentials"}))
    _, outcome = link(service, browser, "google")
    assert outcome.params["error"] == "unipile_rejected"
    assert "/hosted" in outcome.params["hosted_url"]
    page = browser.open_link(outcome.params["retry_url"])
    assert 'data-provider="hosted"' in page.text


def test_fallback_off_offers_nothing(make_service, browser):
    service = make_service(UNIPILE_HOSTED_AUTH="off")
    page = browser.open_link(service.create_session()["url"])
    assert 'data-provider="hosted"' not in page.text


@pytest.fixture
def v2_service(make_service):
    return make_service(UNIPILE_HOSTED_AUTH="v2")


def test_v2_create_links_with_narrowed_scopes(v2_service, browser, sandbox):
    created, wizard = open_wizard(v2_service, browser, features=["calendar", "mail"])
    (request,) = hosted_requests(sandbox, "/v2/auth/link")
    body = request.json
    assert body["providers"] == ["GOOGLE", "OUTLOOK"]
    assert body["redirect_uri"] == f"{v2_service.url}/hosted/return"
    assert body["state"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["expires_on"])
    assert "https://www.googleapis.com/auth/gmail.send" in body["config"]["google"]["oauth_scope"]
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in body["config"]["outlook"]["oauth_scope"]
    outcome = browser.finish(answer_wizard(browser, wizard, "outlook", "grace@contoso.example"))
    assert outcome.ok and outcome.params["provider"] == "microsoft"
    assert v2_service.session(created["id"])["status"] == "linked"


def test_v2_reauthenticate_sends_the_account_id(v2_service, browser, sandbox):
    account = sandbox.unipile.add_account("OUTLOOK", sandbox.microsoft.user_for("grace@contoso.example"))
    _, wizard = open_wizard(v2_service, browser, reconnect_account=account.id)
    (request,) = hosted_requests(sandbox, "/v2/auth/link")
    assert request.json["account_id"] == account.id
    outcome = browser.finish(answer_wizard(browser, wizard, "outlook"))
    assert outcome.ok and outcome.params["account_id"] == account.id


def test_v2_error_return_ends_on_the_failure_url(v2_service, browser, sandbox):
    _created, wizard = open_wizard(v2_service, browser)
    outcome = browser.finish(answer_wizard(browser, wizard, "fail"))
    assert outcome.params["error"] == "provider_error"
    assert "could not be connected" in outcome.params["error_description"]


def test_v2_forged_return_is_refused(v2_service, browser, other_browser, sandbox):
    created, wizard = open_wizard(v2_service, browser)
    back = answer_wizard(browser, wizard, "google")
    location = back.headers["location"]
    forged = location.replace("state=", "state=x")
    page = browser.get(forged)
    assert page.status_code == 400 and 'data-error="state_invalid"' in page.text
    assert other_browser.get(location).status_code == 400  # not the browser that owns the link
    assert v2_service.session(created["id"])["status"] == "authorizing"
    outcome = browser.finish(browser.get(location))
    assert outcome.ok
    # The same return naming another account is refused.
    query = parse_qs(urlsplit(location).query)
    other = location.replace(query["account_id"][0], "someone-else")
    assert browser.get(other).status_code == 409


def test_hosted_outcomes_send_the_same_webhooks(make_service, browser, sandbox, receiver):  # noqa: F811
    service = make_service(WEBHOOK_URL=receiver.url, WEBHOOK_SECRET="whsec-test")
    created, wizard = open_wizard(service, browser)
    browser.finish(answer_wizard(browser, wizard, "google", "ada@example.com"))
    wait_for(lambda: receiver.deliveries)
    event = receiver.deliveries[0].json
    assert event["type"] == "account.linked"
    assert event["data"]["link_session"] == created["id"] and event["data"]["provider"] == "google"


def test_v1_silent_wizard_fails_after_the_notify_timeout(make_service, browser, sandbox):
    service = make_service(HOSTED_NOTIFY_TIMEOUT_SECONDS="1")
    sandbox.unipile.notify_enabled = False
    created, wizard = open_wizard(service, browser)
    outcome = browser.finish(answer_wizard(browser, wizard, "google"))
    assert outcome.params["error"] == "unipile_unavailable"
    assert service.session(created["id"])["status"] == "failed"

