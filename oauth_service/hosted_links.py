"""Where the hosted-auth fallback is offered: the link page, and failures it can rescue."""

from __future__ import annotations

from .settings import Settings

# Failures a person may get past through Unipile's own wizard.
RESCUABLE = frozenset({"unipile_rejected", "provider_error", "admin_consent_required"})


def hosted_href(settings: Settings, token: str, provider: str | None = None) -> str | None:
    """The path to the fallback for this link token, or None when it is off."""
    if settings.unipile_hosted_auth == "off":
        return None
    return f"/link/{token}/hosted" + (f"?provider={provider}" if provider else "")
