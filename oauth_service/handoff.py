"""Handing tokens to Unipile: recorded durably first, then delivered exactly once.

The rules, in order:

1. Before the first call, the tokens are sealed and stored with the hand-off, and the link
   session moves to `linking` in the same transaction. From then on a crash loses nothing.
2. One worker at a time holds a lease on a hand-off; a lease that outlives its holder (a
   killed process) expires and another worker, or the restarted process, takes over.
3. A refusal (4xx) is final: `unipile_rejected`. A transient failure (5xx, 429, timeout,
   refused connection) is retried with exponential backoff and jitter, honouring
   `Retry-After`, until the deadline; then `unipile_unavailable`.
4. When an attempt may have reached Unipile without an answer coming back (a read timeout, a
   dropped connection, a crash mid-call), re-sending could create a second account. So before
   re-sending, Unipile's account list is searched for an account of the same type and mailbox
   created since the first attempt was sent; if one is there it is adopted.
   Limits: the match is by mailbox and creation time, so an account for the same mailbox
   created by other means in that window would be adopted too (it is the same mailbox); and if
   Unipile's list lags behind its creation, a duplicate remains possible.
5. Once the outcome is known the tokens are deleted from our store.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from typing import Any

from .errors import LinkError
from .metrics import Metrics
from .pages import describe
from .providers import Identity, Provider
from .sealing import Sealer, SealError
from .settings import Settings
from .store import FAILED, LINKED, LINKING, QUEUED, Flow, Handoff, LinkSession, Store
from .unipile import (
    UnipileClient,
    UnipileError,
    UnipileRejected,
    UnipileUnavailable,
    account_created_at,
    account_provider,
    account_username,
)
from .webhooks import linked_event_type, new_event

logger = logging.getLogger(__name__)

CLOCK_SKEW = 120.0


def backoff(attempts: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: exponential, capped, with jitter, never before Retry-After."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (jitter, not a secret)
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


class Handoffs:
    """Begins hand-offs from the callback and runs attempts, inline or from the worker."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        unipile: UnipileClient,
        webhooks_enabled: bool,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.unipile = unipile
        self.sealer = Sealer(settings.secret_keys)
        self.webhooks_enabled = webhooks_enabled
        self.worker_id = "w_" + secrets.token_hex(6)
        self.lease = settings.handoff_lease
        self.metrics = metrics or Metrics()

    async def begin(
        self, session: LinkSession, flow: Flow, provider: Provider, token: dict[str, Any], identity: Identity
    ) -> Handoff:
        """Record the hand-off of `token` for `flow`; LinkError if the session moved on meanwhile."""
        now = time.time()
        handoff = Handoff(
            id=flow.id,
            link_session_id=session.id,
            provider=provider.name,
            email=identity.email,
            reconnect_account=session.reconnect_account,
            sealed=self.sealer.seal(provider.unipile_body(token, identity)),
            status=QUEUED,
            next_attempt_at=now,
            deadline_at=now + self.settings.handoff_deadline,
            created_at=now,
            updated_at=now,
            # Born leased to this worker: the inline first attempt needs no separate claim.
            claimed_by=self.worker_id,
            claimed_until=now + self.lease,
        )
        if not await self.store.begin_handoff(handoff):
            raise LinkError("session_expired")  # another tab of this session got there first
        return handoff

    async def try_now(self, handoff: Handoff, session: LinkSession) -> None:
        """The first attempt, made while the browser waits; later ones belong to the worker."""
        session.status = LINKING  # as begin() left it
        await self.run(handoff, session)

    async def run(self, handoff: Handoff, session: LinkSession | None = None) -> None:
        """One attempt at a hand-off this worker holds the lease on."""
        if session is None:
            session = await self.store.get_link_session(handoff.link_session_id)
        if session is None or handoff.sealed is None:
            return
        if session.status != LINKING:
            # Linked meanwhile by other means (the hosted wizard): these tokens are not needed.
            await self.store.finish_handoff(
                handoff, self.worker_id, session_status=None, event=None, error="superseded"
            )
            return
        try:
            body = self.sealer.open(handoff.sealed)
        except SealError:
            logger.error(
                "handoff %s: tokens cannot be unsealed (was a key removed from SECRET_KEYS?)", handoff.id
            )
            await self._fail(
                handoff, session, LinkError("server_error", "The sign-in could not be completed.")
            )
            return
        try:
            await self._attempt(handoff, session, body)
        except Exception as exc:  # a bug or a database blip must not strand the hand-off
            logger.exception("handoff %s: attempt failed unexpectedly", handoff.id)
            await self._later(
                handoff, session, UnipileUnavailable(type(exc).__name__, sent=handoff.in_flight)
            )
        finally:
            body.clear()

    async def _attempt(self, handoff: Handoff, session: LinkSession, body: dict[str, Any]) -> None:
        timeout = self.settings.upstream_timeout
        try:
            if (handoff.ambiguous or handoff.in_flight) and not handoff.reconnect_account:
                try:
                    async with asyncio.timeout(timeout):
                        adopted = await self._created_meanwhile(handoff)
                except (UnipileError, TimeoutError) as exc:
                    # Not knowing whether it exists is no reason to refuse it, nor to send it again.
                    raise UnipileUnavailable(
                        f"account lookup failed ({type(exc).__name__})", sent=True
                    ) from None
                if adopted is not None:
                    logger.info("handoff %s: adopted account created by an unanswered attempt", handoff.id)
                    await self._succeed(handoff, session, adopted)
                    return
            if not await self.store.mark_in_flight(handoff, self.worker_id, self.lease):
                return  # the lease expired and may be another worker's now
            sent_at = time.perf_counter()
            try:
                async with asyncio.timeout(timeout + 2):
                    account_id = await self.unipile.link(body, handoff.reconnect_account)
            except TimeoutError:
                raise UnipileUnavailable("no answer in time", sent=True) from None
            finally:
                self.metrics.handoff_seconds.observe(time.perf_counter() - sent_at)
        except UnipileRejected as exc:
            logger.warning("handoff %s: unipile refused: %s %s", handoff.id, exc.status, exc.title)
            detail = f"Unipile said: {exc.title}" + (f" — {exc.detail}" if exc.detail else "")
            detail = scrub_tokens(detail, body)[:300]
            await self._fail(handoff, session, LinkError("unipile_rejected", detail))
        except UnipileUnavailable as exc:
            await self._later(handoff, session, exc)
        else:
            await self._succeed(handoff, session, account_id)

    async def _created_meanwhile(self, handoff: Handoff) -> str | None:
        """The id of an account for this mailbox that Unipile created since we first sent it."""
        since = (handoff.first_sent_at or handoff.created_at) - CLOCK_SKEW
        async for account in self.unipile.accounts():
            created = account_created_at(account)
            if (
                account_provider(account) == handoff.provider
                and account_username(account) == handoff.email.lower()
                and created is not None
                and created >= since
            ):
                return str(account["id"])
        return None

    async def _later(self, handoff: Handoff, session: LinkSession, exc: UnipileUnavailable) -> None:
        attempts = handoff.attempts + 1
        delay = backoff(
            attempts, self.settings.handoff_retry_base, self.settings.handoff_retry_cap, exc.retry_after
        )
        if time.time() + delay > handoff.deadline_at:
            logger.warning("handoff %s: giving up after %d attempts: %s", handoff.id, attempts, exc.reason)
            await self._fail(handoff, session, LinkError("unipile_unavailable"))
            return
        logger.info(
            "handoff %s: attempt %d failed (%s); next in %.1fs", handoff.id, attempts, exc.reason, delay
        )
        await self.store.retry_handoff(
            handoff,
            self.worker_id,
            next_attempt_at=time.time() + delay,
            error=exc.reason,
            ambiguous=exc.sent,
        )

    async def _succeed(self, handoff: Handoff, session: LinkSession, account_id: str) -> None:
        event = None
        if self.webhooks_enabled:
            event = new_event(
                linked_event_type(reconnect=bool(handoff.reconnect_account)),
                session,
                provider=handoff.provider,
                account_id=account_id,
                email=handoff.email,
            )
        if await self.store.finish_handoff(
            handoff, self.worker_id, session_status=LINKED, event=event, account_id=account_id
        ):
            self.metrics.flows_completed.labels(handoff.provider).inc()
            logger.info("linked session=%s provider=%s", session.id, handoff.provider)

    async def _fail(self, handoff: Handoff, session: LinkSession, error: LinkError) -> None:
        description = describe(error, self.settings.branding.app_name, session.features)
        event = None
        if self.webhooks_enabled:
            event = new_event(
                "account.link_failed",
                session,
                provider=handoff.provider,
                email=handoff.email,
                error=error.code,
                error_description=description,
            )
        if await self.store.finish_handoff(
            handoff,
            self.worker_id,
            session_status=FAILED,
            event=event,
            error=error.code,
            error_description=error.description,
        ):
            self.metrics.flows_failed.labels(handoff.provider, error.code).inc()


def scrub_tokens(text: str, body: dict[str, Any]) -> str:
    """`text` without any token of `body` in it, should Unipile ever echo one back."""
    for key in ("access_token", "refresh_token"):
        value = body.get(key)
        if isinstance(value, str) and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    return text
