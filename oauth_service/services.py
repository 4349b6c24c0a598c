"""The long-lived objects a running service shares: built once in the lifespan, closed after."""

from __future__ import annotations

from dataclasses import dataclass

from .metrics import Metrics
from .pages import Pages
from .providers import Provider, build_providers
from .settings import Settings
from .state import BrowserBinding, Signer, StateCodec, StateError
from .store import Store
from .unipile import UnipileClient


@dataclass
class Services:
    settings: Settings
    store: Store
    providers: dict[str, Provider]
    unipile: UnipileClient
    states: StateCodec
    link_tokens: Signer
    binding: BrowserBinding
    pages: Pages
    metrics: Metrics

    @classmethod
    def build(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            store=Store.from_url(settings.database_url),
            providers=build_providers(settings),
            unipile=UnipileClient(settings.unipile_dsn, settings.unipile_api_key, settings.upstream_timeout),
            states=StateCodec(settings.secret_keys, settings.state_ttl),
            link_tokens=Signer(settings.secret_keys, "link-session-url"),
            binding=BrowserBinding(settings.secure_cookies),
            pages=Pages(settings),
            metrics=Metrics(),
        )

    async def start(self) -> None:
        await self.store.migrate()

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.unipile.aclose()
        await self.store.close()

    def link_url(self, session_id: str) -> str:
        """The absolute URL a person opens to link an account for this session."""
        return f"{self.settings.public_url}/link/{self.link_tokens.sign(session_id)}"

    def session_id_from_link_token(self, token: str) -> str | None:
        try:
            value = self.link_tokens.verify(token, max_age=self.settings.link_session_max_ttl)
        except StateError:
            return None
        return value if isinstance(value, str) else None
