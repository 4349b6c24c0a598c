"""Operator tools over HTTP and the command line: request ids, JSON logs, metrics, check-config."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from oauth_service.logs import QUIET_LOGGERS, configure_logging

from .support import link


def test_every_answer_carries_a_request_id(service):
    first = service.api.get("/healthz")
    second = service.api.get("/healthz")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("req-2026-12-04.abc:42", True), ("short", False), ("has spaces in it", False),
     ("x" * 200, False), ('evil"\n{"level":"error"}', False)],
)
def test_an_incoming_request_id_is_kept_only_when_it_is_a_sane_token(service, incoming, kept):
    answer = service.api.get("/healthz", headers={"X-Request-ID": incoming.replace("\n", " ")})
    assert (answer.headers["x-request-id"] == incoming.replace("\n", " ")) is kept


@pytest.fixture
def json_log() -> Iterator[Callable[[], list[dict]]]:
    """The service's log as `serve` configures it (JSON lines), parsed."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("info", "json", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:], level = saved
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_log_lines_are_json_with_the_request_id_and_never_a_code_or_link_token(service, browser, json_log):
    created, outcome = link(service, browser, "google")
    assert outcome.ok
    deadline = time.monotonic() + 5
    while True:  # the access line is written once the answer has gone out: wait for it
        entries = json_log()
        access = [e for e in entries if e["logger"] == "oauth_service.access"]
        callback = next((e for e in access if e["http"]["path"] == "/oauth/google/callback"), None)
        if callback or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert callback, "no access line for the callback"
    assert callback["http"]["status"] in (302, 303) and len(callback["request_id"]) == 32
    linked = next(e for e in entries if e["message"].startswith("linked session="))
    assert linked["request_id"] == callback["request_id"]  # the same request, the same id
    assert any(e["http"]["path"] == "/link/{token}" for e in access)

    everything = json.dumps(entries)
    token = created["url"].rsplit("/", 1)[-1]
    assert token not in everything
    assert "code=" not in everything and "state=" not in everything
    for issued in service.sandbox.google.issued_tokens:
        assert str(issued) not in everything


def test_metrics_are_off_unless_a_token_is_configured(service):
    assert service.api.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token_and_count_flows(make_service, browser):
    service = make_service(METRICS_TOKEN="metrics-token-0123456789")
    assert service.api.get("/metrics").status_code == 401  # the API key is not the metrics token
    link(service, browser, "google")
    link(service, browser, "microsoft", allow=False)
    answer = service.api.get("/metrics", headers={"Authorization": "Bearer metrics-token-0123456789"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert 'oauth_flows_started_total{provider="google"} 1.0' in text
    assert 'oauth_flows_started_total{provider="microsoft"} 1.0' in text
    assert 'oauth_flows_completed_total{provider="google"} 1.0' in text
    assert 'oauth_flows_failed_total{error="access_denied",provider="microsoft"} 1.0' in text
    assert "oauth_handoff_seconds_count 1.0" in text
    assert "oauth_handoffs_pending 0.0" in text
    assert "oauth_webhook_deliveries_total" in text or "oauth_webhook_deliveries" in text


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "oauth_service", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60, cwd="/",
    )


VALID = {
    "PUBLIC_URL": "https://link.example.com",
    "SECRET_KEYS": "a-long-enough-secret-key-0001,a-long-enough-secret-key-0002",
    "API_KEYS": "api-key-that-must-not-be-printed",
    "ALLOWED_REDIRECT_ORIGINS": "https://app.example.com",
    "GOOGLE_CLIENT_ID": "1234-abc.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "google-secret-never-printed",
    "MICROSOFT_CLIENT_ID": "0f0e0d0c-aaaa-bbbb-cccc-123456789abc",
    "MICROSOFT_CLIENT_SECRET": "microsoft-secret-never-printed",
    "UNIPILE_DSN": "https://api8.unipile.com:13851",
    "UNIPILE_API_KEY": "unipile-key-never-printed",
    "DATABASE_URL": "postgresql://oauth:db-password-never-printed@db.internal/oauth",
}


def test_check_config_prints_the_table_the_redirect_uris_and_the_unipile_step():
    result = run_cli("check-config", **VALID)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].split() == ["setting", "status", "value", "what", "it", "means"]
    assert "SECRET_KEYS               configured  set (2 values)" in out
    assert "MICROSOFT_TENANT          default     common" in out
    assert "WEBHOOK_URL               not set" in out
    assert "https://link.example.com/oauth/google/callback" in out
    assert "https://link.example.com/oauth/microsoft/callback" in out
    assert "Authorized redirect URIs" in out and "Add a platform > Web" in out
    assert "Unipile dashboard" in out
    assert "never-printed" not in out.replace("(never printed)", "")


def test_check_config_lists_what_is_missing_and_fails():
    result = run_cli("check-config", PUBLIC_URL="https://link.example.com", MICROSOFT_CLIENT_ID="abc")
    assert result.returncode == 2
    assert "SECRET_KEYS               MISSING" in result.stdout
    assert "UNIPILE_DSN               MISSING" in result.stdout
    assert "MICROSOFT_CLIENT_SECRET   MISSING" in result.stdout  # the id is set, so its secret is due
    assert "GOOGLE_CLIENT_SECRET      not set" in result.stdout
    assert "The configuration cannot run:" in result.stdout
    assert "SECRET_KEYS is not set" in result.stdout
