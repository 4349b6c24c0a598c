"""The hosted-auth fallback: what comes back from Unipile's wizard (through the browser, or to
the notify URL) is believed only when it is ours, for this session, in its own browser, and
names the account this wizard linked."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
import pytest

from oauth_service.sandbox.driver import parse_form
from oauth_service.sandbox.users import SandboxUser

from ..support import provider_href
from .helpers import assert_error_page, assert_no_token_exchange


def open_wizard(service, browser, **fields):
    created = service.create_session(**fields)
    page = browser.open_link(created["url"])
    start = browser.get(urljoin(str(page.url), provider_href(page.text, "hosted")))
    assert start.status_code == 302, start.text[:300]
    wizard = browser.get(start.headers["location"])
    assert wizard.status_code == 200
    return created, wizard


def wizard_answer(browser, wizard, action="google", email="mallory@example.com") -> httpx2.Response:
    form = parse_form(wizard.text, str(wizard.url))
    return browser.http.post(urljoin(str(wizard.url), form.action), data={"action": action, "email": email})


def someone_elses_account(sandbox) -> str:
    """An account linked yesterday, by someone else, whose id the attacker learned."""
    account = sandbox.unipile.add_account("GOOGLE_OAUTH", SandboxUser(email="victim@example.com"))
    account.created_at -= timedelta(days=1)
    return account.id


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_hosted_return_naming_someone_elses_account_is_refused(make_service, browser, sandbox, mode):
    # The owning browser edits the return URL to claim another person's existing Unipile account.
    service = make_service(UNIPILE_HOSTED_AUTH=mode)
    victim = someone_elses_account(sandbox)
    created, wizard = open_wizard(service, browser)
    back = wizard_answer(browser, wizard)
    location = urljoin(str(back.url), back.headers["location"])
    query = parse_qs(urlsplit(location).query)
    ref = query["state"][0] if mode == "v2" else urlsplit(location).path.rsplit("/", 1)[1]
    forged = f"{service.url}/hosted/return?state={ref}&account_id={victim}&provider=GOOGLE_OAUTH"
    answer = browser.get(forged)
    # v1 has no browser return carrying an account id (404); v2's is checked with Unipile (409).
    assert answer.status_code == (404 if mode == "v1" else 409), (answer.status_code, answer.headers)
    assert victim not in answer.headers.get("location", "")
    assert service.session(created["id"])["account_id"] != victim
    assert_no_token_exchange(sandbox)


def test_hosted_return_in_another_browser_is_refused(make_service, browser, other_browser, sandbox):
    service = make_service(UNIPILE_HOSTED_AUTH="v2")
    created, wizard = open_wizard(service, browser)
    back = wizard_answer(browser, wizard)
    assert_error_page(other_browser.get(urljoin(str(back.url), back.headers["location"])), "browser_mismatch")
    assert service.session(created["id"])["status"] != "linked"


def test_forged_hosted_references_are_refused(make_service, browser, sandbox):
    v2 = make_service(UNIPILE_HOSTED_AUTH="v2")
    assert_error_page(browser.get(f"{v2.url}/hosted/return?state=forged&account_id=x"), "state_invalid")
    v1 = make_service(UNIPILE_HOSTED_AUTH="v1")
    assert_error_page(browser.get(f"{v1.url}/hosted/return/forged?outcome=success"), "state_invalid")
    notify = httpx2.post(
        f"{v1.url}/hosted/notify/forged",
        json={"status": "CREATION_SUCCESS", "account_id": "x", "name": "ls_x"},
    )
    assert notify.status_code == 403
    # Each generation's routes answer only in its own mode.
    assert_error_page(browser.get(f"{v1.url}/hosted/return?state=forged&account_id=x"), "not_found", 404)
    assert_error_page(browser.get(f"{v2.url}/hosted/return/forged?outcome=success"), "not_found", 404)


def test_a_browser_visible_reference_is_no_notify_reference(make_service, browser, sandbox):
    # The v1 return reference reaches the browser; the notify one only Unipile. They are not
    # interchangeable, so a person cannot confirm a link to an account of their choosing.
    service = make_service(UNIPILE_HOSTED_AUTH="v1")
    victim = someone_elses_account(sandbox)
    created, wizard = open_wizard(service, browser)
    back = wizard_answer(browser, wizard, action="fail")
    ref = urlsplit(back.headers["location"]).path.rsplit("/", 1)[1]
    notify = httpx2.post(
        f"{service.url}/hosted/notify/{ref}",
        json={"status": "CREATION_SUCCESS", "account_id": victim, "name": created["id"]},
    )
    assert notify.status_code == 403
    assert service.session(created["id"])["account_id"] != victim
