"""Secrets in logs and URLs: with every logger at DEBUG, nothing the flows handle that grants
access (access and refresh tokens, codes, client secrets, API keys, PKCE verifiers) is written
by the service, and no token ever appears in a URL we emit (Referer and history leaks)."""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from oauth_service.__main__ import configure_logging
from oauth_service.sandbox import Fault

from ..support import API_KEY, CLIENTS, link, service_env, sql
from .helpers import code_verifiers, to_callback, unipile_posts


@pytest.fixture
def debug_logs(caplog):
    """Every logger at DEBUG, then the service's own LOG_LEVEL=debug set-up on top (which keeps
    the libraries that print request bodies and SQL parameters at WARNING). Records reach the
    root logger's capture handler: the service runs in a thread of this process."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.NOTSET)  # all inherit the root's DEBUG
    configure_logging("debug")
    yield caplog
    for name in list(logging.root.manager.loggerDict):
        logging.getLogger(name).setLevel(logging.NOTSET)


def service_records(caplog, service) -> list[logging.LogRecord]:
    """What the service's thread logged (the sandbox and the test's own client log too).

    uvicorn's access log is left out: `oauth-service serve` turns it off (see the test below),
    because a callback's request line carries its one-time code, as in every OAuth client; pytest
    captures it here anyway.
    """
    thread = service.server._thread.name
    return [r for r in caplog.records if r.threadName == thread and r.name != "uvicorn.access"]


def rendered(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


def run_flows(service, browser, sandbox) -> list[str]:
    """Flows of the suite: links, refusals, a retried hand-off; answers the codes issued."""
    codes = []
    for provider in ("google", "microsoft"):
        _, callback = to_callback(service, browser, provider)
        codes.append(parse_qs(urlsplit(callback).query)["code"][0])
        assert browser.finish(browser.get(callback)).ok
    sandbox.unipile.enqueue(Fault.status(400, body={"title": "Invalid credentials"}))
    assert link(service, browser, "google")[1].params["error"] == "unipile_rejected"
    sandbox.google.script(sign="tampered")
    assert link(service, browser, "google")[1].params["error"] == "id_token_invalid"
    sandbox.google.script(token_error=(400, {"error": "invalid_grant"}))
    assert link(service, browser, "google")[1].params["error"] == "provider_error"
    sandbox.unipile.enqueue(Fault.status(503))  # sealed, retried, unsealed: the durable path
    assert link(service, browser, "microsoft")[1].ok
    return codes


def secrets_of_the_run(service, sandbox, codes: list[str]) -> dict[str, str]:
    secrets: dict[str, str] = {"api key": API_KEY, "unipile api key": sandbox.unipile.api_key}
    for name, (_, client_secret) in CLIENTS.items():
        secrets[f"{name} client secret"] = client_secret
    for i, post in enumerate(unipile_posts(sandbox)):
        secrets[f"access token {i}"] = post.json["access_token"]
        secrets[f"refresh token {i}"] = post.json["refresh_token"]
    for provider in (sandbox.google, sandbox.microsoft):
        for i, token in enumerate(provider.issued_tokens):
            secrets[f"{provider.name} token {i}"] = token
    for i, code in enumerate(codes):
        secrets[f"code {i}"] = code
    for i, verifier in enumerate(code_verifiers(service)):
        secrets[f"verifier {i}"] = verifier
    for key in service.settings.secret_keys:
        secrets["secret key"] = key
    return secrets


def test_no_secret_is_logged_even_at_debug(service, browser, sandbox, debug_logs):
    codes = run_flows(service, browser, sandbox)
    records = service_records(debug_logs, service)
    # The capture works: the service's own lines are there, so their absence of secrets means something.
    assert any("linked session=" in r.getMessage() for r in records)
    assert any(r.levelno == logging.DEBUG for r in records)
    secrets = secrets_of_the_run(service, sandbox, codes)
    assert len(unipile_posts(sandbox)) >= 3 and len(secrets) > 10
    for record in records:
        text = rendered(record)
        for what, value in secrets.items():
            assert value not in text, f"{what} logged by {record.name}: {text[:200]}"


def test_no_token_appears_in_any_url_we_emit(service, browser, sandbox):
    codes = run_flows(service, browser, sandbox)
    secrets = secrets_of_the_run(service, sandbox, codes)
    ours = browser.answers_from(service.url)
    locations = [s.headers["location"] for s in ours if "location" in s.headers]
    assert len(locations) >= 10
    for location in locations:
        for what, value in secrets.items():
            assert value not in location, f"{what} in {location}"
    # Nor in any page we served (a link or a script could carry it on).
    for seen in ours:
        for what, value in secrets.items():
            if not what.startswith("code"):  # our callback URL is the one place a code arrives
                assert value not in seen.text, f"{what} in the page of {seen.url}"


def test_a_database_error_logs_no_sql_parameters(service, browser, debug_logs):
    # A failed INSERT of a flow would otherwise print its PKCE verifier and nonce in the traceback.
    created = service.create_session()
    page = browser.open_link(created["url"])
    sql(service, "DROP TABLE flows")
    assert browser.click(page, "google").status_code == 500
    logged = "\n".join(rendered(r) for r in service_records(debug_logs, service))
    assert "INSERT INTO flows" in logged  # the failure was logged, with its statement...
    assert "[parameters:" not in logged  # ...but not with the values it carried
    assert "hidden" in logged


def test_serve_runs_uvicorn_without_an_access_log(monkeypatch, tmp_path):
    # The one request line that carries a code is the callback's; the access log must not keep it.
    import uvicorn

    from oauth_service.__main__ import main

    ran: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: ran.update(kwargs))
    monkeypatch.chdir(tmp_path)
    env = service_env("https://link.example.com", "http://127.0.0.1:1", f"sqlite:///{tmp_path}/x.db")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    main(["serve"])
    assert ran["access_log"] is False
    assert ran["proxy_headers"] is True and "forwarded_allow_ips" not in ran  # FORWARDED_ALLOW_IPS decides


def test_the_service_logs_from_its_own_thread(service, debug_logs):
    # The premise of the log test: records of the server thread reach the test's handler.
    service.api.get("/api/link-sessions/ls_nope")
    assert service_records(debug_logs, service)
    assert service.server._thread.name != threading.current_thread().name
