"""The background worker in the service's lifespan: due hand-offs, webhook deliveries, purging.

Every instance runs one; they share the work through leases in the database, so any of them
finishes what a killed one left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable

from .handoff import Handoffs, backoff
from .store import FAILED, LINKING, Store, WebhookEvent
from .webhooks import WebhookSender, new_event

logger = logging.getLogger(__name__)

PURGE_INTERVAL = 600.0
FLOW_RETENTION = 3600.0


class Worker:
    def __init__(
        self,
        store: Store,
        handoffs: Handoffs,
        webhooks: WebhookSender | None,
        *,
        poll: float,
        session_retention: float,
        retry_base: float,
        retry_cap: float,
        hosted_notify_timeout: float,
    ) -> None:
        self.store = store
        self.handoffs = handoffs
        self.webhooks = webhooks
        self.poll = poll
        self.session_retention = session_retention
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.hosted_notify_timeout = hosted_notify_timeout
        self._task: asyncio.Task | None = None
        self._last_purge = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="oauth-service-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive any one bad row or database blip
                logger.exception("worker pass failed")
                busy = False
            if not busy:
                await asyncio.sleep(self.poll)

    async def run_once(self) -> bool:
        """One pass over due work; True if there was any (so look again at once)."""
        lease = self.handoffs.lease
        handoffs = await self.store.claim_due_handoffs(self.handoffs.worker_id, lease)
        await _each(self.handoffs.run(h) for h in handoffs)
        events = []
        if self.webhooks is not None:
            events = await self.store.claim_due_events(self.handoffs.worker_id, lease)
            await _each(self._deliver(e) for e in events)
        await self._give_up_on_silent_wizards()
        if time.time() - self._last_purge > PURGE_INTERVAL:
            self._last_purge = time.time()
            counts = await self.store.purge(
                time.time(), session_retention=self.session_retention, flow_retention=FLOW_RETENTION
            )
            if any(counts.values()):
                logger.info("purged %s", counts)
        return bool(handoffs or events)

    async def _give_up_on_silent_wizards(self) -> None:
        """A v1 wizard that sent the person back but never notified us fails, and the app is told."""
        for session in await self.store.stalled_linking(time.time() - self.hosted_notify_timeout):
            event = None
            if self.webhooks is not None:
                event = new_event(
                    "account.link_failed",
                    session,
                    error="unipile_unavailable",
                    error_description="Unipile did not confirm the connection.",
                )
            if await self.store.transition(
                session.id,
                (LINKING,),
                FAILED,
                event=event,
                error="unipile_unavailable",
                error_description="Unipile did not confirm the connection.",
            ):
                logger.warning("hosted link session=%s: no confirmation from Unipile", session.id)

    async def _deliver(self, event: WebhookEvent) -> None:
        assert self.webhooks is not None
        error = await self.webhooks.deliver(event)
        self.handoffs.metrics.webhook_deliveries.labels("delivered" if error is None else "failed").inc()
        next_at = None
        if error is not None:
            delay = backoff(event.attempts + 1, self.retry_base, self.retry_cap)
            if time.time() + delay < event.deadline_at:
                next_at = time.time() + delay
            logger.info(
                "webhook %s (%s): %s; %s", event.id, event.type, error, "retrying" if next_at else "giving up"
            )
        await self.store.settle_event(
            event, self.handoffs.worker_id, delivered=error is None, next_attempt_at=next_at, error=error
        )


async def _each(coroutines: Iterable[Awaitable[None]]) -> None:
    """Run side by side; one failing (it logs its own story) must not cancel the others."""
    for result in await asyncio.gather(*coroutines, return_exceptions=True):
        if isinstance(result, Exception):
            logger.error("worker task failed: %s", type(result).__name__, exc_info=result)
