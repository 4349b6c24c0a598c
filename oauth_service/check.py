"""`oauth-service check-config`: what is configured, what is missing, what it means, what to register where.

The table is built from the raw environment, so it is printed even when the configuration
cannot run: an operator sees every gap in one pass. Secrets are never printed, only whether
they are set and how many there are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .settings import ConfigError, Settings, load_settings


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # "required", "optional" or "secret" (required, never printed)
    meaning: str
    default: str = ""


ROWS = (
    Row("PUBLIC_URL", "required", "where browsers reach this service; the callbacks derive from it"),
    Row("SECRET_KEYS", "secret", "sign state and link URLs; the first signs, all verify (rotation)"),
    Row("API_KEYS", "secret", "what your backend sends as Bearer on /api/*"),
    Row("ALLOWED_REDIRECT_ORIGINS", "required", "the only origins success/failure URLs may point to"),
    Row("DATABASE_URL", "optional", "link sessions and flows; PostgreSQL for several instances",
        "sqlite:///./oauth_service.db"),
    Row("GOOGLE_CLIENT_ID", "optional", "your Google OAuth client; Google is offered when set"),
    Row("GOOGLE_CLIENT_SECRET", "optional", "its secret (never printed)"),
    Row("MICROSOFT_CLIENT_ID", "optional", "your Entra app (client) id; Microsoft is offered when set"),
    Row("MICROSOFT_CLIENT_SECRET", "optional", "its client secret value (never printed)"),
    Row("MICROSOFT_TENANT", "optional", "common = work and personal accounts", "common"),
    Row("UNIPILE_DSN", "required", "your Unipile API base, from Unipile's dashboard"),
    Row("UNIPILE_API_KEY", "secret", "Unipile access token, from Unipile's dashboard"),
    Row("UNIPILE_HOSTED_AUTH", "optional", "which hosted-wizard call the fallback uses (v1, v2, off)", "v1"),
    Row("WEBHOOK_URL", "optional", "signed notifications to your app (off when unset)"),
    Row("WEBHOOK_SECRET", "optional", "signs those notifications (never printed)"),
    Row("METRICS_TOKEN", "optional", "Bearer token that unlocks GET /metrics (off when unset)"),
    Row("MAX_CONCURRENT_REQUESTS", "optional", "requests in flight before 503 + Retry-After", "1000"),
    Row("APP_NAME", "optional", "shown on every page", "Your app"),
    Row("APP_LOGO_URL", "optional", "logo beside the name"),
    Row("APP_ACCENT_COLOR", "optional", "accent colour of the pages", "#2563eb"),
    Row("SUPPORT_URL", "optional", "Help link in the footer"),
    Row("PRIVACY_URL", "optional", "Privacy policy link in the footer"),
    Row("TEMPLATES_DIR", "optional", "your own templates, overriding ours file by file"),
    Row("LOG_LEVEL", "optional", "debug, info, warning or error", "info"),
    Row("LOG_FORMAT", "optional", "json (one object a line) or text", "json"),
)
SECRET_NAMES = {"SECRET_KEYS", "API_KEYS", "UNIPILE_API_KEY", "GOOGLE_CLIENT_SECRET",
                "MICROSOFT_CLIENT_SECRET", "WEBHOOK_SECRET", "METRICS_TOKEN"}


def environment(env_file: str | None = ".env") -> dict[str, str]:
    """The variables the service would read: `.env` first, the process environment over it."""
    env: dict[str, str] = {}
    if env_file and os.path.isfile(env_file):
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ)
    return env


def _shown(name: str, value: str) -> str:
    """What may be printed of a value: never a secret, never a database password."""
    if name in SECRET_NAMES:
        count = len([v for v in value.split(",") if v.strip()])
        return f"set ({count} values)" if count > 1 else "set"
    if name == "DATABASE_URL":
        parts = urlsplit(value)
        if parts.password:
            return value.replace(f":{parts.password}@", ":***@")
    return value


def _partner_is_set(name: str, env: Mapping[str, str]) -> bool:
    """A client id without its secret (or the reverse) is missing its other half."""
    for a, b in (("_CLIENT_ID", "_CLIENT_SECRET"), ("_CLIENT_SECRET", "_CLIENT_ID"), ("_URL", "_SECRET")):
        if name.endswith(a) and name.startswith(("GOOGLE", "MICROSOFT", "WEBHOOK")):
            return bool(env.get(name[: -len(a)] + b, "").strip())
    return False


def table(env: Mapping[str, str]) -> list[str]:
    """One line per setting: name, configured / default / missing, the value, what it means."""
    lines = []
    for row in ROWS:
        value = env.get(row.name, "").strip()
        if value:
            status, shown = "configured", _shown(row.name, value)
        elif row.default:
            status, shown = "default", row.default
        elif row.kind in ("required", "secret") or _partner_is_set(row.name, env):
            status, shown = "MISSING", "-"
        else:
            status, shown = "not set", "-"
        if len(shown) > 40:
            shown = shown[:37] + "..."
        lines.append((row.name, status, shown, row.meaning))
    widths = [max(len(line[i]) for line in [*lines, ("setting", "status", "value", "")]) for i in range(3)]
    header = ("setting", "status", "value", "what it means")
    return [
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(line)).rstrip()
        for line in [header, *lines]
    ]


def registrations(settings: Settings) -> list[str]:
    """The exact redirect URIs to paste into each provider's console, and Unipile's step."""
    lines = ["Redirect URIs to register (exactly: scheme, host, port and path):"]
    google = settings.providers.get("google")
    microsoft = settings.providers.get("microsoft")
    if google:
        lines += [
            "  Google Cloud console > APIs & Services > Credentials > OAuth 2.0 Client IDs >",
            f"  {google.client_id} > Authorized redirect URIs:",
            f"    {settings.callback_url('google')}",
        ]
    if microsoft:
        lines += [
            f"  Microsoft Entra admin center > App registrations > {microsoft.client_id} >",
            "  Authentication > Add a platform > Web > Redirect URIs:",
            f"    {settings.callback_url('microsoft')}",
        ]
    if not google and not microsoft:
        lines.append("  (no provider configured: only Unipile's hosted wizard is offered)")
    lines += [
        "",
        "Unipile dashboard: enter the same Google and Microsoft client ids and secrets in Unipile's",
        "dashboard (your application's OAuth settings). Unipile refreshes access tokens with them;",
        "without them a linked account stops working within the hour.",
    ]
    return lines


def report(env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The whole check-config report, and whether the configuration can run."""
    env = environment() if env is None else env
    lines = [*table(env), ""]
    try:
        settings = load_settings(env, env_file=None)
    except ConfigError as exc:
        lines += ["The configuration cannot run:", *(f"  - {problem}" for problem in exc.problems)]
        return "\n".join(lines), False
    lines += ["Configuration is valid.", "", *registrations(settings)]
    return "\n".join(lines), True
