"""`oauth-service check-config`: what is configured, what it means, what to register where."""

from __future__ import annotations

from .settings import Settings


def report(settings: Settings) -> str:
    lines = ["Configuration is valid.", ""]
    rows = [
        ("PUBLIC_URL", settings.public_url),
        ("DATABASE_URL", settings.database_url.split("@")[-1]),
        ("SECRET_KEYS", f"{len(settings.secret_keys)} key(s); the first signs"),
        ("API_KEYS", f"{len(settings.api_keys)} key(s)"),
        (
            "ALLOWED_REDIRECT_ORIGINS",
            ", ".join(sorted(settings.allowed_redirect_origins))
            or "(none: every link session will be refused)",
        ),
        ("UNIPILE_DSN", settings.unipile_dsn),
        ("UNIPILE_HOSTED_AUTH", settings.unipile_hosted_auth),
        ("WEBHOOK_URL", settings.webhook_url or "(off)"),
    ]
    for name in ("google", "microsoft"):
        p = settings.providers.get(name)
        rows.append(
            (
                f"{name.upper()}",
                f"client {p.client_id}" + (f", tenant {p.tenant}" if p and p.tenant else "")
                if p
                else "(not configured: not offered)",
            )
        )
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k.ljust(width)}  {v}" for k, v in rows]
    lines += ["", "Redirect URIs to register (exactly, including the scheme and path):"]
    if "google" in settings.providers:
        lines.append(
            "  Google Cloud console → APIs & Services → Credentials → your OAuth client:\n"
            f"    {settings.callback_url('google')}"
        )
    if "microsoft" in settings.providers:
        lines.append(
            "  Microsoft Entra → App registrations → Authentication → Web platform:\n"
            f"    {settings.callback_url('microsoft')}"
        )
    if not settings.providers:
        lines.append("  (no provider configured)")
    lines += [
        "",
        "Reminder: enter the same Google and Microsoft client ids and secrets in Unipile's dashboard",
        "(Application → OAuth settings). Unipile refreshes access tokens with them; without them a",
        "linked account stops working within the hour.",
    ]
    return "\n".join(lines)
