"""The long-lived objects a running service shares: built once in the lifespan, closed after."""

from __future__ import annotations

from dataclasses import dataclass

from .handoff import Handoffs
from .metrics import Metrics
from .pages import Pages
from .providers import Provider, build_providers
from .settings import Settings
from .state import BrowserBinding, Signer, StateCodec, StateError
from .store import Store
from .unipile import UnipileClient
from .webhooks import WebhookSender
from .worker import Worker


@dataclass
class Services:
    settings: Settings
    store: Store
    providers: dict[str, Provider]
    unipile: UnipileClient
    unipile_v2: UnipileClient
    handoffs: Handoffs
    webhooks: WebhookSender | None
    worker: Worker
    states: StateCodec
    link_tokens: Signer
    hosted_v1_refs: Signer
    hosted_v2_refs: Signer
    hosted_notify_refs: Signer
    binding: BrowserBinding
    pages: Pages
    metrics: Metrics

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = Store.from_url(settings.database_url)
        providers = build_providers(settings)
        unipile = UnipileClient(settings.unipile_dsn, settings.unipile_api_key, settings.upstream_timeout)
        webhooks = (
            WebhookSender(settings.webhook_url, settings.webhook_secret, settings.upstream_timeout)
            if settings.webhook_url
            else None
        )
        metrics = Metrics()
        handoffs = Handoffs(
            settings, store, unipile, webhooks_enabled=webhooks is not None, metrics=metrics
        )
        worker = Worker(
            store,
            handoffs,
            webhooks,
            poll=settings.worker_poll,
            session_retention=settings.session_retention,
            retry_base=settings.handoff_retry_base,
            retry_cap=settings.handoff_retry_cap,
            hosted_notify_timeout=settings.hosted_notify_timeout,
        )
        return cls(
            settings=settings,
            store=store,
            providers=providers,
            unipile=unipile,
            unipile_v2=UnipileClient(
                settings.unipile_api_url,
                settings.unipile_v2_api_key or settings.unipile_api_key,
                settings.upstream_timeout,
            ),
            handoffs=handoffs,
            webhooks=webhooks,
            worker=worker,
            states=StateCodec(settings.secret_keys, settings.state_ttl),
            link_tokens=Signer(settings.secret_keys, "link-session-url"),
            hosted_v1_refs=Signer(settings.secret_keys, "hosted-v1-return"),
            hosted_v2_refs=Signer(settings.secret_keys, "hosted-v2-state"),
            hosted_notify_refs=Signer(settings.secret_keys, "hosted-v1-notify"),
            binding=BrowserBinding(settings.secure_cookies),
            pages=Pages(settings),
            metrics=metrics,
        )

    async def start(self, *, worker: bool = True) -> None:
        """Migrate the schema, then resume whatever hand-offs and deliveries are pending."""
        await self.store.migrate()
        if worker:
            self.worker.start()

    async def aclose(self) -> None:
        await self.worker.stop()
        for provider in self.providers.values():
            await provider.aclose()
        await self.unipile.aclose()
        await self.unipile_v2.aclose()
        if self.webhooks is not None:
            await self.webhooks.aclose()
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
