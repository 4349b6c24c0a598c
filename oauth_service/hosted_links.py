"""Where the hosted-auth fallback is offered: the link page, and failures it can rescue."""

from __future__ import annotations

from urllib.parse import urlencode

from .settings import Settings

# Failures a person may get past through Unipile's own wizard.
RESCUABLE = frozenset({"unipile_rejected", "provider_error", "admin_consent_required"})


def hosted_href(
    settings: Settings, token: str, provider: str | None = None, *, proof: str | None = None
) -> str | None:
    """The path to the fallback for this link token, or None when it is off.

    `proof` is the link page's start proof (see `flow.claim_browser`); links offered after a
    failure go to a session already bound to its browser and need none.
    """
    if settings.unipile_hosted_auth == "off":
        return None
    query = urlencode({k: v for k, v in (("provider", provider), ("proof", proof)) if v})
    return f"/link/{token}/hosted" + (f"?{query}" if query else "")
