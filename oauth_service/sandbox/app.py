"""One ASGI app serving every stand-in, and the handle tests and the demo hold it by."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from .faults import DroppingStarlette, silence_drop_reports
from .google import GoogleProvider
from .graph import GraphStandIn
from .microsoft import MicrosoftProvider
from .pages import page
from .unipile import UnipileStandIn


class Sandbox:
    """Google, Microsoft (with Graph) and Unipile stand-ins under one base URL.

    ``Sandbox(url).app`` is the ASGI app; ``app.state.sandbox`` leads back here, so
    ``LoopbackServer(lambda url: Sandbox(url).app)`` gives tests both.
    """

    def __init__(self, base_url: str, *, unipile_api_key: str = "sandbox-unipile-key") -> None:
        self.base_url = base_url.rstrip("/")
        base = self.base_url
        self.google = GoogleProvider(f"{base}/google")
        self.microsoft = MicrosoftProvider(f"{base}/microsoft", graph_url=f"{base}/graph")
        self.graph = GraphStandIn(f"{base}/graph", self.microsoft)
        self.unipile = UnipileStandIn(f"{base}/unipile", self.google, self.microsoft, api_key=unipile_api_key)
        silence_drop_reports()
        self.app = DroppingStarlette(
            routes=[
                Route("/", self.index, methods=["GET"]),
                Mount("/google", routes=self.google.routes()),
                Mount("/microsoft", routes=self.microsoft.routes()),
                Mount("/graph", routes=self.graph.routes()),
                Mount("/unipile", routes=self.unipile.routes()),
            ],
            lifespan=self._lifespan,
        )
        self.app.state.sandbox = self

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.unipile.aclose()

    def reset(self) -> None:
        """Forget behaviours, codes, tokens, records, users added and accounts; keep clients."""
        self.google.reset()
        self.microsoft.reset()
        self.graph.reset()
        self.unipile.reset()

    def connect_service(
        self,
        public_url: str,
        *,
        tenant: str = "common",
        google_client: tuple[str, str] = ("sandbox-google-client", "sandbox-google-secret"),
        microsoft_client: tuple[str, str] = ("sandbox-microsoft-client", "sandbox-microsoft-secret"),
    ) -> dict[str, str]:
        """Register the service's clients for ``public_url``; return the settings it needs.

        The result maps the service's environment variables to values pointing at this
        sandbox: callbacks are ``{public_url}/oauth/{google,microsoft}/callback``.
        """
        public_url = public_url.rstrip("/")
        self.google.register_client(*google_client, [f"{public_url}/oauth/google/callback"])
        self.microsoft.register_client(*microsoft_client, [f"{public_url}/oauth/microsoft/callback"])
        base = self.base_url
        return {
            "GOOGLE_CLIENT_ID": google_client[0],
            "GOOGLE_CLIENT_SECRET": google_client[1],
            "GOOGLE_METADATA_URL": f"{base}/google/.well-known/openid-configuration",
            "MICROSOFT_CLIENT_ID": microsoft_client[0],
            "MICROSOFT_CLIENT_SECRET": microsoft_client[1],
            "MICROSOFT_TENANT": tenant,
            "MICROSOFT_AUTHORITY": f"{base}/microsoft",
            "MICROSOFT_METADATA_URL": (f"{base}/microsoft/{tenant}/v2.0/.well-known/openid-configuration"),
            "MICROSOFT_GRAPH_URL": f"{base}/graph",
            "UNIPILE_DSN": f"{base}/unipile",
            "UNIPILE_API_URL": f"{base}/unipile",
            "UNIPILE_API_KEY": self.unipile.api_key,
        }

    async def index(self, request: Request) -> Response:
        return page(
            "index.html",
            title="OAuth service sandbox",
            base=self.base_url,
            google_users=self.google.users,
            microsoft_users=self.microsoft.users,
            account_count=len(self.unipile.accounts),
        )
