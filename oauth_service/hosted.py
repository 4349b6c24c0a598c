"""The fallback: Unipile's hosted-auth wizard, finished exactly as the custom flow finishes.

The same link session, the same redirects back to the app, the same status answers and
webhooks. v1 confirms the account by calling our notify URL (its success redirect carries no
account id); v2 brings the browser back with the account id and our signed `state`.
Everything that comes back is verified before it changes anything: a signed reference, the
session it names, the browser that owns it, and, once linked, the account it was linked to.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .errors import LinkError
from .flow import claim_browser, claim_refused, fail_session, open_session, outcome_redirect, services_of
from .services import Services
from .settings import scopes_for
from .state import StateError, same_browser
from .store import AUTHORIZING, FAILED, LINKED, LINKING, OPEN_STATUSES, PENDING, LinkSession
from .unipile import UnipileError, UnipileRejected, account_created_at, account_provider, account_username
from .webhooks import linked_event_type, new_event

logger = logging.getLogger(__name__)

UNIPILE_NAMES = {"google": "GOOGLE", "microsoft": "OUTLOOK"}
CLOCK_SKEW = 120  # seconds of disagreement between our clock and Unipile's
V2_CONFIG_KEYS = {"google": "google", "microsoft": "outlook"}


def expires_on(ts: float) -> str:
    """Unipile's timestamp format, exactly `YYYY-MM-DDTHH:MM:SS.sssZ`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def wizard_providers(session: LinkSession, only: str | None) -> Any:
    """What the wizard offers: one provider, every calendar provider, or the session's list."""
    if only:
        return [UNIPILE_NAMES[only]]
    if session.features == ["calendar"] and set(session.providers) >= set(UNIPILE_NAMES):
        return "*:CALENDAR"
    return [UNIPILE_NAMES[p] for p in session.providers]


async def start(request: Request) -> Response:
    """GET /link/{token}/hosted[?provider=…]: ask Unipile for a wizard link, send the browser there."""
    svc = services_of(request)
    token = request.path_params["token"]
    if svc.settings.unipile_hosted_auth == "off":
        raise LinkError("provider_unavailable", status=404)
    session = await open_session(svc, token)
    browser_hash = claim_browser(svc, request, session)
    only = request.query_params.get("provider")
    if only is not None and (only not in UNIPILE_NAMES or only not in session.providers):
        raise LinkError("provider_unavailable", status=404)
    reference = {"s": session.id, "t": int(time.time())}
    expiry = min(session.expires_at, time.time() + 3600)
    try:
        if svc.settings.unipile_hosted_auth == "v2":
            url = await svc.unipile_v2.hosted_link_v2(_v2_body(svc, session, only, reference, expiry))
        else:
            url = await svc.unipile.hosted_link_v1(_v1_body(svc, session, only, reference, expiry))
    except UnipileError as exc:
        logger.warning("hosted link refused or unavailable: %s", exc)
        return await fail_session(svc, session, LinkError("hosted_unavailable"))
    claimed = await svc.store.transition(
        session.id, OPEN_STATUSES, AUTHORIZING, bound_to=browser_hash, provider=only
    )
    if not claimed:
        raise await claim_refused(svc, session)
    svc.metrics.flows_started.labels("hosted").inc()
    return RedirectResponse(url, status_code=302)


def _v1_body(svc: Services, session: LinkSession, only: str | None, reference: dict, expiry: float) -> dict:
    public = svc.settings.public_url
    ref = svc.hosted_v1_refs.sign(reference)
    body: dict[str, Any] = {
        "type": "reconnect" if session.reconnect_account else "create",
        "providers": wizard_providers(session, only),
        "api_url": svc.settings.unipile_dsn,
        "expiresOn": expires_on(expiry),
        "success_redirect_url": f"{public}/hosted/return/{ref}?outcome=success",
        "failure_redirect_url": f"{public}/hosted/return/{ref}?outcome=failure",
        "notify_url": f"{public}/hosted/notify/{svc.hosted_notify_refs.sign(reference)}",
        "name": session.id,
    }
    if session.reconnect_account:
        body["reconnect_account"] = session.reconnect_account
    return body


def _v2_body(svc: Services, session: LinkSession, only: str | None, reference: dict, expiry: float) -> dict:
    offered = [only] if only else session.providers
    body: dict[str, Any] = {
        "providers": wizard_providers(session, only),
        "redirect_uri": f"{svc.settings.public_url}/hosted/return",
        "expires_on": expires_on(expiry),
        "state": svc.hosted_v2_refs.sign(reference),
        "config": {
            V2_CONFIG_KEYS[p]: {"oauth_scope": scopes_for(svc.settings.feature_scopes[p], session.features)}
            for p in offered
        },
    }
    if session.reconnect_account:
        body["account_id"] = session.reconnect_account
    return body


def _reference(svc: Services, signer_name: str, value: str) -> tuple[str, int]:
    """The session id a signed hosted reference names and when it was issued; StateError if the
    reference is not ours (or belongs to the other API generation: each has its own signer)."""
    payload = getattr(svc, signer_name).verify(value, max_age=svc.settings.link_session_max_ttl)
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("s"), str)
        or not isinstance(payload.get("t"), int)
    ):
        raise StateError("malformed hosted reference")
    return payload["s"], payload["t"]


def _require_mode(svc: Services, mode: str) -> None:
    if svc.settings.unipile_hosted_auth != mode:
        raise LinkError("not_found", status=404)


async def _confirm(svc: Services, session: LinkSession, account_id: str, issued_at: int) -> LinkSession:
    """Link `session` to the account Unipile reports, once Unipile itself vouches for it.

    Fails closed: the account must exist, be of a provider we link, and be the reconnected
    account or one created after this wizard link was issued. Idempotent for the same account;
    another account for a session already linked is refused (409).
    """
    try:
        account = await svc.unipile.account(account_id)
    except UnipileRejected:
        account = {}  # Unipile has no such account: refused below
    except UnipileError as exc:
        logger.warning("hosted: could not confirm account with Unipile: %s", exc)
        raise LinkError(
            "unipile_unavailable", "Unipile could not confirm the connection.", status=503
        ) from None
    provider = account_provider(account)
    created = account_created_at(account)
    if session.reconnect_account:
        genuine = account_id == session.reconnect_account
    else:
        genuine = created is not None and created >= issued_at - CLOCK_SKEW
    if provider is None or not genuine:
        logger.warning("hosted: session=%s refused an account not created by its wizard", session.id)
        raise LinkError("state_invalid", "This account was not connected through this link.", status=409)
    email = account_username(account) or None
    event = None
    if svc.webhooks is not None:
        event = new_event(
            linked_event_type(reconnect=bool(session.reconnect_account)),
            session,
            provider=provider,
            account_id=account_id,
            email=email,
        )
    outcome = await svc.store.confirm_linked(
        session.id, account_id, event, provider=provider, email=email, error=None, error_description=None
    )
    if outcome == "conflict":
        raise LinkError("state_invalid", "This link was already used for another account.", status=409)
    if outcome == "linked":
        svc.metrics.flows_completed.labels("hosted").inc()
    settled = await svc.store.get_link_session(session.id)
    assert settled is not None
    return settled


async def notify(request: Request) -> Response:
    """POST /hosted/notify/{ref}: Unipile's v1 confirmation that the wizard linked an account."""
    svc = services_of(request)
    _require_mode(svc, "v1")
    try:
        session_id, issued_at = _reference(svc, "hosted_notify_refs", request.path_params["ref"])
    except StateError:
        return JSONResponse({"error": "invalid notify reference"}, status_code=403)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "body must be JSON"}, status_code=400)
    if not isinstance(body, dict) or not isinstance(body.get("account_id"), str):
        return JSONResponse({"error": "account_id is required"}, status_code=400)
    session = await svc.store.get_link_session(session_id)
    if session is None or body.get("name") != session.id:
        return JSONResponse({"error": "unknown link session"}, status_code=404)
    if body.get("status") not in ("CREATION_SUCCESS", "RECONNECTED"):
        return JSONResponse({"error": "unexpected status"}, status_code=400)
    try:
        await _confirm(svc, session, body["account_id"], issued_at)
    except LinkError as exc:
        return JSONResponse({"error": exc.code, "detail": exc.description}, status_code=exc.status)
    return JSONResponse({"status": "ok"})


async def v1_return(request: Request) -> Response:
    """GET /hosted/return/{ref}?outcome=…: the browser back from a v1 wizard."""
    svc = services_of(request)
    _require_mode(svc, "v1")
    try:
        session_id, _ = _reference(svc, "hosted_v1_refs", request.path_params["ref"])
    except StateError:
        raise LinkError("state_invalid") from None
    session = await _owned_session(svc, request, session_id)
    settled = _settled(svc, session)
    if settled is not None:
        return settled
    if request.query_params.get("outcome") != "success":
        return await fail_session(
            svc, session, LinkError("provider_error", "The connection was not completed.")
        )
    # v1's success redirect carries no account id: wait for Unipile's notify on the finishing page.
    await svc.store.transition(session.id, (PENDING, AUTHORIZING), LINKING)
    return RedirectResponse(
        f"{svc.settings.public_url}/finishing/{svc.link_tokens.sign(session.id)}", status_code=303
    )


async def v2_return(request: Request) -> Response:
    """GET /hosted/return?state=…&account_id=…&provider=… (or error_title): back from a v2 wizard."""
    svc = services_of(request)
    _require_mode(svc, "v2")
    params = request.query_params
    try:
        session_id, issued_at = _reference(svc, "hosted_v2_refs", params.get("state", ""))
    except StateError:
        raise LinkError("state_invalid") from None
    session = await _owned_session(svc, request, session_id)
    account_id = params.get("account_id")
    if not account_id:
        settled = _settled(svc, session)
        if settled is not None:
            return settled
        title = params.get("error_title", "")[:200] or "The connection was not completed."
        return await fail_session(svc, session, LinkError("provider_error", f"Unipile said: {title}"))
    linked = await _confirm(svc, session, account_id, issued_at)
    return outcome_redirect(svc, linked) or RedirectResponse(svc.link_url(session.id), status_code=303)


def _settled(svc: Services, session: LinkSession) -> Response | None:
    """A return for a session whose outcome is already recorded (a reload) just shows it again."""
    if session.status in (LINKED, FAILED):
        return outcome_redirect(svc, session)
    return None


async def _owned_session(svc: Services, request: Request, session_id: str) -> LinkSession:
    session = await svc.store.get_link_session(session_id)
    if session is None:
        raise LinkError("state_invalid")
    if not same_browser(svc.binding.read(request), session.browser_hash):
        raise LinkError("browser_mismatch")
    if session.current_status() not in (PENDING, AUTHORIZING, LINKING, FAILED, LINKED):
        raise LinkError("session_expired", status=410)
    return session


__all__ = ["notify", "start", "v1_return", "v2_return"]
