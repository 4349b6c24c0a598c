"""Startup refuses a configuration that cannot work, saying how to fix it."""

from __future__ import annotations

import pytest

from oauth_service.__main__ import main
from oauth_service.check import report
from oauth_service.settings import ConfigError, load_settings

BASE = {
    "PUBLIC_URL": "https://link.example.com",
    "SECRET_KEYS": "a-long-enough-secret-key",
    "API_KEYS": "k",
    "UNIPILE_DSN": "https://api8.unipile.com:13851",
    "UNIPILE_API_KEY": "u",
    "GOOGLE_CLIENT_ID": "gid",
    "GOOGLE_CLIENT_SECRET": "gsecret",
    "ALLOWED_REDIRECT_ORIGINS": "https://app.example.com",
}


def problems(**changes: str) -> list[str]:
    env = {k: v for k, v in (BASE | changes).items() if v is not None}
    try:
        load_settings(env, env_file=None)
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_complete_configuration_loads():
    settings = load_settings(BASE, env_file=None)
    assert settings.callback_url("google") == "https://link.example.com/oauth/google/callback"
    assert settings.providers["google"].metadata_url.startswith("https://accounts.google.com/")
    assert "microsoft" not in settings.providers


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"PUBLIC_URL": "http://link.example.com"}, "https://"),
        ({"PUBLIC_URL": None}, "PUBLIC_URL is not set"),
        ({"SECRET_KEYS": None}, "SECRET_KEYS is not set"),
        ({"SECRET_KEYS": "short"}, "at least 16"),
        ({"API_KEYS": None}, "API_KEYS"),
        ({"GOOGLE_CLIENT_SECRET": None}, "GOOGLE_CLIENT_SECRET is not"),
        ({"MICROSOFT_CLIENT_ID": "mid"}, "MICROSOFT_CLIENT_SECRET is not"),
        ({"UNIPILE_DSN": None}, "UNIPILE_DSN and UNIPILE_API_KEY"),
        ({"UNIPILE_API_KEY": None}, "UNIPILE_DSN and UNIPILE_API_KEY"),
        ({"UNIPILE_HOSTED_AUTH": "v3"}, "UNIPILE_HOSTED_AUTH"),
        ({"ALLOWED_REDIRECT_ORIGINS": "https://app.example.com/path"}, "not an origin"),
        ({"APP_ACCENT_COLOR": "red"}, "#rrggbb"),
        ({"WEBHOOK_URL": "https://app.example.com/hook"}, "WEBHOOK_SECRET"),
        ({"STATE_TTL_SECONDS": "ten"}, "not a number"),
    ],
)
def test_startup_refuses_with_a_message_that_says_how_to_fix_it(changes, needle):
    found = problems(**changes)
    assert any(needle in p for p in found), found


def test_http_is_fine_on_loopback():
    assert problems(PUBLIC_URL="http://localhost:8000") == []
    assert problems(PUBLIC_URL="http://127.0.0.1:8000") == []


def test_all_problems_are_reported_at_once():
    assert len(problems(SECRET_KEYS=None, API_KEYS=None, UNIPILE_DSN=None)) == 3


def test_microsoft_tenant_and_clouds_are_overridable():
    settings = load_settings(
        BASE | {"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET": "s",
                "MICROSOFT_TENANT": "organizations",
                "MICROSOFT_AUTHORITY": "https://login.microsoftonline.us",
                "MICROSOFT_GRAPH_URL": "https://graph.microsoft.us"},
        env_file=None,
    )
    ms = settings.providers["microsoft"]
    assert ms.metadata_url == (
        "https://login.microsoftonline.us/organizations/v2.0/.well-known/openid-configuration"
    )
    assert ms.graph_url == "https://graph.microsoft.us"


def test_dotenv_file_is_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in BASE.items()) + "\nAPP_NAME=From dotenv\n")
    assert load_settings({}, env_file=env_file).branding.app_name == "From dotenv"


def test_check_config_prints_redirect_uris_and_the_unipile_reminder():
    text, ok = report(BASE | {"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET": "s"})
    assert ok
    assert "https://link.example.com/oauth/google/callback" in text
    assert "https://link.example.com/oauth/microsoft/callback" in text
    assert "Unipile's dashboard" in text
    assert "gsecret" not in text


def test_check_config_command_exits_2_on_problems(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in BASE:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PUBLIC_URL", "http://example.com")
    with pytest.raises(SystemExit) as exit_info:
        main(["check-config"])
    assert exit_info.value.code == 2
    assert "https://" in capsys.readouterr().out


def test_demo_refuses_a_non_loopback_address(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--host", "192.0.2.10"])
    assert exit_info.value.code == 2
    assert "loopback" in capsys.readouterr().err


def test_a_national_cloud_gets_its_own_graph_scopes():
    settings = load_settings(
        BASE | {"MICROSOFT_CLIENT_ID": "m", "MICROSOFT_CLIENT_SECRET": "s",
                "MICROSOFT_GRAPH_URL": "https://graph.microsoft.us",
                "MICROSOFT_GRAPH_RESOURCE": "https://graph.microsoft.us"},
        env_file=None,
    )
    ms = settings.providers["microsoft"]
    assert "https://graph.microsoft.us/Calendars.ReadWrite" in ms.feature_scopes["calendar"]
    assert "https://graph.microsoft.us/User.Read" in ms.base_scopes
    assert not any("graph.microsoft.com" in s for s in ms.base_scopes)
    # The v2 wizard's oauth_scope is built from the same rewrite.
    assert settings.feature_scopes["microsoft"]["calendar"] == ms.feature_scopes["calendar"]


def test_a_national_cloud_without_our_own_microsoft_client_still_narrows_the_wizard_to_its_graph():
    settings = load_settings(BASE | {"MICROSOFT_GRAPH_RESOURCE": "https://graph.microsoft.us"}, env_file=None)
    wizard = settings.feature_scopes["microsoft"]
    assert "https://graph.microsoft.us/Calendars.ReadWrite" in wizard["calendar"]
    assert not any("graph.microsoft.com" in s for scopes in wizard.values() for s in scopes)
    assert settings.feature_scopes["google"] == load_settings(BASE, env_file=None).feature_scopes["google"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [({"LINK_SESSION_TTL_SECONDS": "5"}, "LINK_SESSION_TTL_SECONDS"),
     ({"WEBHOOK_URL": "ftp://x", "WEBHOOK_SECRET": "s"}, "http(s)")],
)
def test_lifetimes_and_webhook_urls_are_validated(changes, needle):
    assert any(needle in p for p in problems(**changes))
