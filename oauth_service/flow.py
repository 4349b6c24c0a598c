"""The browser flow, written as the sequence it is: open the link, start, come back, link.

Every outcome is decided here: a redirect to the app (when the link session is known and
trustworthy) or a branded error page (when it is not, e.g. a forged state).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from . import hosted_links
from .errors import ERRORS, LinkError
from .pages import describe
from .providers import PROVIDER_NAMES, Provider
from .redirects import failure_redirect, success_redirect
from .services import Services
from .state import FlowState, StateError, binding_hash, same_browser, start_proof, valid_start_proof
from .store import AUTHORIZING, FAILED, LINKED, LINKING, PENDING, Flow, LinkSession
from .webhooks import new_event

logger = logging.getLogger(__name__)


def services_of(request: Request) -> Services:
    return request.app.state.services


async def _session_for_token(svc: Services, token: str) -> LinkSession:
    session_id = svc.session_id_from_link_token(token)
    session = await svc.store.get_link_session(session_id) if session_id else None
    if session is None:
        raise LinkError("not_found", status=404)
    return session


async def open_session(svc: Services, token: str) -> LinkSession:
    session = await _session_for_token(svc, token)
    if not session.accepts_new_flow():
        raise LinkError("session_expired", status=410)
    return session


def claim_browser(svc: Services, request: Request, session: LinkSession) -> str:
    """The browser hash a start may bind the session to, or browser_mismatch.

    The session's own browser may always start again. An unbound session is claimed by the
    first start that proves, with the page's `proof`, that this browser was shown the page;
    viewing the page binds nothing, so a mail scanner's preview or an answer lost to a crash
    takes the link from nobody. The claim itself is made atomically by the store.
    """
    secret = svc.binding.read(request)
    if session.browser_hash is not None:
        if same_browser(secret, session.browser_hash):
            return session.browser_hash
    elif valid_start_proof(secret, session.id, request.query_params.get("proof")):
        return binding_hash(secret)  # type: ignore[arg-type]
    raise LinkError("browser_mismatch", status=403)


async def claim_refused(svc: Services, session: LinkSession) -> LinkError:
    """Why an atomic claim failed: another browser got there first, or the session closed."""
    latest = await svc.store.get_link_session(session.id)
    if latest is not None and latest.accepts_new_flow():
        return LinkError("browser_mismatch", status=403)
    return LinkError("session_expired", status=410)


async def link_page(request: Request) -> Response:
    """GET /link/{token}: the branded choice of provider.

    It writes nothing: the session is bound to a browser only by its first start (see
    `claim_browser`). A session another browser has claimed is refused here already.
    """
    svc = services_of(request)
    token = request.path_params["token"]
    session = await _session_for_token(svc, token)
    if same_browser(svc.binding.read(request), session.browser_hash):
        # The browser that owns the link, coming back (reload, back button): show where it is.
        if session.current_status() == LINKING:
            return RedirectResponse(f"{svc.settings.public_url}/finishing/{token}", status_code=303)
        if session.current_status() == LINKED:
            return outcome_redirect(svc, session)  # type: ignore[return-value]
    if not session.accepts_new_flow():
        raise LinkError("session_expired", status=410)
    secret, is_new = svc.binding.ensure(request)
    if session.browser_hash is not None and not same_browser(secret, session.browser_hash):
        raise LinkError("browser_mismatch", status=403)
    proof = start_proof(secret, session.id)
    response = svc.pages.render(
        request,
        "link.html",
        choices=_choices(svc, session, token, proof),
        hosted_href=hosted_links.hosted_href(svc.settings, token, proof=proof),
        features_text=" and ".join(session.features),
    )
    if is_new:
        svc.binding.set(response, secret)
    return response


def _choices(svc: Services, session: LinkSession, token: str, proof: str) -> list[dict[str, str]]:
    """One branded button per provider of the session: our own client, else the hosted wizard."""
    choices = []
    for name in PROVIDER_NAMES:
        if name not in session.providers:
            continue
        if name in svc.providers:
            href = f"/link/{token}/{name}?proof={proof}"
        else:
            href = hosted_links.hosted_href(svc.settings, token, name, proof=proof)
            if href is None:
                continue
        label = svc.settings.provider_labels.get(name, name.title())
        choices.append({"provider": name, "href": href, "label": f"Sign in with {label}"})
    return choices


async def start(request: Request) -> Response:
    """GET /link/{token}/{provider}: record a new flow, then send the browser to consent."""
    svc = services_of(request)
    token, name = request.path_params["token"], request.path_params["provider"]
    session = await open_session(svc, token)
    provider = svc.providers.get(name)
    if provider is None or name not in session.providers:
        raise LinkError("provider_unavailable", status=404)
    browser_hash = claim_browser(svc, request, session)
    now = time.time()
    flow = Flow(
        id=secrets.token_urlsafe(24),
        link_session_id=session.id,
        provider=name,
        code_verifier=secrets.token_urlsafe(64),
        nonce=secrets.token_urlsafe(24),
        browser_hash=browser_hash,
        created_at=now,
        expires_at=now + svc.settings.state_ttl,
    )
    # The URL first: if the provider cannot be reached, nothing is stored and nothing moves,
    # and the person is offered the link page again rather than a dead end.
    try:
        url = await provider.authorization_url(
            state=svc.states.encode(flow.id, name),
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
            features=session.features,
            login_hint=session.login_hint,
        )
    except LinkError as error:
        error.status = 503
        return svc.pages.error(request, error, retry_url=f"/link/{token}")
    if not await svc.store.begin_flow(flow):
        raise await claim_refused(svc, session)
    svc.metrics.flows_started.labels(name).inc()
    return RedirectResponse(url, status_code=302)


async def callback(request: Request) -> Response:
    """GET /oauth/{provider}/callback: verify, exchange, validate, hand off, redirect."""
    svc = services_of(request)
    name = request.path_params["provider"]
    provider = svc.providers.get(name)
    if provider is None:
        raise LinkError("not_found", status=404)
    params = request.query_params
    try:
        ref = svc.states.decode(params.get("state", ""))
    except StateError as exc:
        return await _stale_state(svc, request, name, exc)
    flow, session = await _claim_flow(svc, request, name, ref)
    try:
        return await _complete(svc, provider, session, flow, params)
    except LinkError as error:
        return await fail_session(svc, session, error)


async def _stale_state(svc: Services, request: Request, name: str, exc: StateError) -> Response:
    """An unverifiable state is refused with a page; a genuine but expired one fails its session."""
    ref = exc.payload if exc.expired else None
    if ref is not None and ref.provider == name:
        flow = await svc.store.get_flow(ref.flow_id)
        if flow and same_browser(svc.binding.read(request), flow.browser_hash):
            flow = await svc.store.consume_flow(flow.id)
            session = await svc.store.get_link_session(flow.link_session_id) if flow else None
            if session is not None:
                return await fail_session(svc, session, LinkError("state_expired"))
    raise LinkError("state_invalid")


async def _claim_flow(svc: Services, request: Request, name: str, ref: FlowState) -> tuple[Flow, LinkSession]:
    """Consume the state's flow exactly once, in the browser that started it."""
    if ref.provider != name:
        # Mix-up defence: a state issued for one provider presented at another's callback.
        raise LinkError("state_invalid")
    flow = await svc.store.get_flow(ref.flow_id)
    if flow is None or flow.consumed_at is not None:
        raise LinkError("state_invalid")
    if not same_browser(svc.binding.read(request), flow.browser_hash):
        # Checked before consuming, so a callback forwarded to another browser burns nothing.
        raise LinkError("browser_mismatch")
    flow = await svc.store.consume_flow(flow.id)
    if flow is None:
        raise LinkError("state_invalid")  # a concurrent callback consumed it first
    session = await svc.store.get_link_session(flow.link_session_id)
    if session is None:
        raise LinkError("state_invalid")
    return flow, session


async def _complete(
    svc: Services, provider: Provider, session: LinkSession, flow: Flow, params: Any
) -> Response:
    if session.current_status() not in (PENDING, AUTHORIZING, FAILED):
        raise LinkError("session_expired")
    iss = params.get("iss")
    if iss is not None and not await provider.response_issuer_ok(iss):
        # RFC 9207 2.4: checked first, so a mixed-up error answer is not relayed as the provider's.
        raise LinkError("state_invalid", "The answer came from an unexpected issuer.")
    if "error" in params:
        raise provider.authorization_error(params.get("error", ""), params.get("error_description", "")[:300])
    code = params.get("code")
    if not code:
        raise LinkError("provider_error", f"{provider.label} sent no authorization code.")

    token = await provider.exchange_code(code, flow.code_verifier)
    try:
        claims = await provider.verify_id_token(token.get("id_token"), flow.nonce)
        missing = provider.missing_features(session.features, token)
        if missing:
            raise LinkError("missing_scopes", "Missing: " + ", ".join(missing) + ".")
        if not token.get("refresh_token"):
            raise LinkError("no_refresh_token")
        identity = await provider.identity(token, claims)
        # From here on the consent cannot be lost: the tokens are sealed in the store.
        handoff = await svc.handoffs.begin(session, flow, provider, token, identity)
    finally:
        token.clear()
    await svc.handoffs.try_now(handoff, session)
    settled = await svc.store.get_link_session(session.id)
    assert settled is not None
    return outcome_redirect(svc, settled) or RedirectResponse(
        f"{svc.settings.public_url}/finishing/{svc.link_tokens.sign(session.id)}", status_code=303
    )


def outcome_redirect(svc: Services, session: LinkSession) -> Response | None:
    """The redirect back to the app for a settled session, or None while it is still linking."""
    if session.status == LINKED and session.account_id and session.provider:
        return RedirectResponse(
            success_redirect(
                session.success_url,
                account_id=session.account_id,
                provider=session.provider,
                app_state=session.app_state,
                link_session=session.id,
            ),
            status_code=303,
        )
    if session.status == FAILED and session.error:
        return _failure_response(svc, session, LinkError(session.error, session.error_description))
    return None


async def finishing(request: Request) -> Response:
    """GET /finishing/{token}: shown while a hand-off is pending, until its outcome is known.

    It refreshes itself without JavaScript (meta refresh) and polls with it; only the browser
    that started the link is shown the outcome.
    """
    svc = services_of(request)
    token = request.path_params["token"]
    session = await _session_for_token(svc, token)
    if not same_browser(svc.binding.read(request), session.browser_hash):
        raise LinkError("browser_mismatch", status=403)
    redirect = outcome_redirect(svc, session)
    if request.query_params.get("poll"):
        location = redirect.headers["location"] if redirect is not None else None
        return JSONResponse({"location": location})
    if redirect is not None:
        return redirect
    if session.current_status() != LINKING:
        raise LinkError("session_expired", status=410)
    handoff = await svc.store.latest_handoff(session.id)
    return svc.pages.render(
        request,
        "finishing.html",
        poll_url=f"/finishing/{token}?poll=1",
        slow=bool(handoff and handoff.attempts > 1),
        provider_label=svc.providers[session.provider].label if session.provider in svc.providers else "",
    )


async def fail_session(svc: Services, session: LinkSession, error: LinkError) -> Response:
    """Record a failure on a known session and send the browser to the app's failure URL."""
    event = None
    if svc.webhooks is not None:
        event = new_event(
            "account.link_failed",
            session,
            error=error.code,
            error_description=describe(error, svc.settings.branding.app_name, session.features),
        )
    await svc.store.transition(
        session.id,
        (PENDING, AUTHORIZING, FAILED),
        FAILED,
        event=event,
        error=error.code,
        error_description=error.description,
    )
    svc.metrics.flows_failed.labels(session.provider or "none", error.code).inc()
    logger.info("link failed session=%s error=%s", session.id, error.code)
    return _failure_response(svc, session, error)


def _failure_response(svc: Services, session: LinkSession, error: LinkError) -> Response:
    retry_url = hosted_url = None
    if time.time() < session.expires_at:
        if ERRORS[error.code].retryable:
            retry_url = svc.link_url(session.id)
        if error.code in hosted_links.RESCUABLE:
            href = hosted_links.hosted_href(svc.settings, svc.link_tokens.sign(session.id))
            hosted_url = f"{svc.settings.public_url}{href}" if href else None
    return RedirectResponse(
        failure_redirect(
            session.failure_url,
            error=error.code,
            description=describe(error, svc.settings.branding.app_name, session.features),
            app_state=session.app_state,
            link_session=session.id,
            retry_url=retry_url,
            hosted_url=hosted_url,
        ),
        status_code=303,
    )
