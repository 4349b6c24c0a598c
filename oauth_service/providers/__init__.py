"""The providers this service can link, over one small interface (`Provider`)."""

from __future__ import annotations

from ..settings import Settings
from .base import Identity, Provider
from .google import Google
from .microsoft import Microsoft

PROVIDER_CLASSES: dict[str, type[Provider]] = {"google": Google, "microsoft": Microsoft}
PROVIDER_NAMES = tuple(PROVIDER_CLASSES)


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One Provider per configured client, in the order the link page shows them."""
    return {
        name: PROVIDER_CLASSES[name](ps, settings.callback_url(name), settings.upstream_timeout)
        for name, ps in settings.providers.items()
    }


__all__ = ["PROVIDER_NAMES", "Identity", "Provider", "build_providers"]
