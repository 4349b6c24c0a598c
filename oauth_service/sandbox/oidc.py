"""The OpenID provider machinery shared by the Google and Microsoft stand-ins.

A provider keeps everything in memory: registered clients, users, consent pages waiting for
an answer, authorization codes and issued tokens. Tests control it from their own thread while
the server runs in another, so all of that state is guarded by one lock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from .behaviour import Behaviour
from .keys import SigningKeys, b64url
from .pages import error_page, page
from .users import SandboxUser

CODE_LIFETIME = 600
ACCESS_TOKEN_LIFETIME = 3599
ID_TOKEN_LIFETIME = 3600
PENDING_LIFETIME = 3600

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class RegisteredClient:
    """An OAuth client as registered in the provider's developer console."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grant:
    """What one user allowed one client in one authorization; codes and tokens point here."""

    grant_id: str
    client_id: str
    user: SandboxUser
    scopes: tuple[str, ...]
    tenant: str
    nonce: str | None
    offline: bool
    behaviour: Behaviour


@dataclass(frozen=True)
class IssuedToken:
    """An access or refresh token the provider handed out, for the Graph and Unipile stand-ins."""

    kind: Literal["access", "refresh"]
    grant: Grant
    expires_at: float | None
    revoked: bool = False

    @property
    def user(self) -> SandboxUser:
        return self.grant.user

    @property
    def client_id(self) -> str:
        return self.grant.client_id

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.grant.scopes


@dataclass(frozen=True)
class TokenRequest:
    """One call of the token endpoint, as recorded for assertions; it holds no secret."""

    grant_type: str
    client_id: str | None
    auth_method: str | None
    redirect_uri: str | None
    code_verifier_sent: bool
    status_code: int
    error: str | None


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization request, checked, whose consent page awaits the user's answer."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    login_hint: str
    prompt: tuple[str, ...]
    access_type: str
    include_granted_scopes: bool
    tenant: str
    behaviour: Behaviour
    created_at: float


@dataclass
class _Code:
    grant: Grant
    redirect_uri: str
    code_challenge: str
    issued_at: float
    used: bool = False


class _TokenError(Exception):
    """A token endpoint error answer (RFC 6749 section 5.2)."""

    def __init__(self, status_code: int, error: str, description: str, **headers: str) -> None:
        self.status_code, self.error, self.description = status_code, error, description
        self.headers = headers

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, self.status_code, headers={**_NO_STORE, **self.headers})


class _ScriptedTokenError(_TokenError):
    """A token endpoint answer scripted verbatim by a test."""

    def __init__(self, status_code: int, body: Mapping[str, Any]) -> None:
        super().__init__(status_code, str(body.get("error", "")), "")
        self.body = dict(body)

    def response(self) -> Response:
        return JSONResponse(self.body, self.status_code, headers=_NO_STORE)


def with_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` appended to its query, keeping what was there."""
    parts = urlsplit(url)
    extra = urlencode({key: value for key, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class OpenIDProvider:
    """An OpenID Connect provider speaking the authorization-code flow with PKCE.

    Subclasses supply the flavour: routes, discovery document, issuer, claims and refresh
    token rules. Control it from tests with :meth:`register_client`, :meth:`add_user`,
    :meth:`script` (or the persistent :attr:`behaviour`), :meth:`rotate_keys`,
    :meth:`advance_clock` and :meth:`reset`.
    """

    name: ClassVar[str]
    display_name: ClassVar[str]
    default_users: ClassVar[tuple[tuple[str, str], ...]]
    rotates_refresh_tokens: ClassVar[bool] = False

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys = SigningKeys()
        self._lock = threading.RLock()
        self._clients: dict[str, RegisteredClient] = {}
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self.behaviour: Behaviour = Behaviour()
            self._queue: deque[Behaviour] = deque()
            self._users: dict[str, SandboxUser] = {}
            self._pending: dict[str, PendingAuthorization] = {}
            self._codes: dict[str, _Code] = {}
            self._tokens: dict[str, IssuedToken] = {}
            self._granted: dict[tuple[str, str], tuple[str, ...]] = {}
            self._token_requests: list[TokenRequest] = []
            self._skew = 0.0
            self.fetch_counts: dict[str, int] = {"discovery": 0, "jwks": 0}
            for email, name in self.default_users:
                self.add_user(email, name=name)

    # -- control handle ------------------------------------------------------------------

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str]
    ) -> RegisteredClient:
        """Register (or re-register) a client; redirect URIs must match exactly."""
        client = RegisteredClient(client_id, client_secret, tuple(redirect_uris))
        with self._lock:
            self._clients[client_id] = client
        return client

    def add_user(self, user: SandboxUser | str, **fields: Any) -> SandboxUser:
        """Add a user (a :class:`SandboxUser`, or an email plus its fields) and return it."""
        if isinstance(user, str):
            user = SandboxUser(email=user, **fields)
        elif fields:
            user = dataclasses.replace(user, **fields)
        with self._lock:
            self._users[user.email.lower()] = user
        return user

    def user(self, email: str) -> SandboxUser | None:
        with self._lock:
            return self._users.get(email.lower())

    @property
    def users(self) -> list[SandboxUser]:
        with self._lock:
            return list(self._users.values())

    @property
    def default_email(self) -> str:
        return self.default_users[0][0]

    def user_for(self, email: str, tenant: str = "") -> SandboxUser:
        """The user signing in as ``email``, created on the fly if the provider has none."""
        with self._lock:
            user = self._users.get(email.lower())
            if user is None:
                user = self.add_user(self.new_user(email, tenant))
            return user

    def script(self, **changes: Any) -> Behaviour:
        """Queue a behaviour for the next authorization request: :attr:`behaviour` plus ``changes``.

        Each queued behaviour is used by exactly one authorization request, in order; see
        :class:`Behaviour` for the fields.
        """
        behaviour = dataclasses.replace(self.behaviour, **changes)
        with self._lock:
            self._queue.append(behaviour)
        return behaviour

    def rotate_keys(self, keep_old: bool = True) -> str:
        """Sign with a new key (new ``kid``) from now on and return its ``kid``."""
        return self.keys.rotate(keep_old=keep_old)

    def advance_clock(self, seconds: float) -> None:
        """Move the provider's clock forward, to expire codes and tokens without waiting."""
        with self._lock:
            self._skew += seconds

    def now(self) -> float:
        return time.time() + self._skew

    def token_info(self, token: str) -> IssuedToken | None:
        """What the provider knows of ``token``, whatever its state."""
        with self._lock:
            return self._tokens.get(token)

    def is_valid_access_token(self, token: str) -> bool:
        return self._is_live(token, "access")

    def is_valid_refresh_token(self, token: str) -> bool:
        return self._is_live(token, "refresh")

    def _is_live(self, token: str, kind: str) -> bool:
        info = self.token_info(token)
        return (
            info is not None
            and info.kind == kind
            and not info.revoked
            and (info.expires_at is None or info.expires_at > self.now())
        )

    def revoke(self, token: str) -> bool:
        """Revoke ``token`` and every token of the same grant, as revocation (RFC 7009) does."""
        with self._lock:
            info = self._tokens.get(token)
            if info is None:
                return False
            self._revoke_grant(info.grant.grant_id)
            return True

    def _revoke_grant(self, grant_id: str) -> None:
        for value, info in self._tokens.items():
            if info.grant.grant_id == grant_id:
                self._tokens[value] = dataclasses.replace(info, revoked=True)

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._token_requests)

    @property
    def issued_tokens(self) -> dict[str, IssuedToken]:
        with self._lock:
            return dict(self._tokens)

    def reset(self) -> None:
        """Forget behaviours, users added, consents, codes, tokens and records; keep clients."""
        self._forget()

    # -- flavour hooks -------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def issuer(self, tenant: str = "") -> str:
        """The issuer as the discovery document publishes it."""
        raise NotImplementedError

    def new_user(self, email: str, tenant: str) -> SandboxUser:
        return SandboxUser(email=email)

    def tenant_problem(self, tenant: str) -> str | None:
        return None

    def refresh_allowed(self, pending: PendingAuthorization, scopes: tuple[str, ...]) -> bool:
        raise NotImplementedError

    def id_token_claims(self, grant: Grant, access_token: str, now: int) -> dict[str, Any]:
        raise NotImplementedError

    def granted_scope(self, scopes: tuple[str, ...]) -> str:
        return " ".join(scopes)

    def authorization_extras(self) -> dict[str, str]:
        return {}

    def token_extras(self) -> dict[str, Any]:
        return {}

    def account_note(self) -> str:
        return ""

    def new_code(self) -> str:
        return secrets.token_urlsafe(32)

    def new_token(self, kind: Literal["access", "refresh"]) -> str:
        return secrets.token_urlsafe(48)

    # -- endpoints -----------------------------------------------------------------------

    def _count(self, what: str) -> None:
        with self._lock:
            self.fetch_counts[what] = self.fetch_counts.get(what, 0) + 1

    async def jwks(self, request: Request) -> Response:
        self._count("jwks")
        return JSONResponse(self.keys.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    async def authorize(self, request: Request) -> Response:
        """Check the request; then a consent page, or straight back with a code or an error."""
        tenant = request.path_params.get("tenant", "")
        if problem := self.tenant_problem(tenant):
            return self._error_page("Unknown tenant", problem)
        query = request.query_params
        with self._lock:
            client = self._clients.get(query.get("client_id", ""))
        if client is None:
            return self._error_page(
                "Error 401: invalid_client",
                "The OAuth client was not found. Register the client ID with the sandbox.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            return self._error_page(
                "Error 400: redirect_uri_mismatch",
                f"The redirect URI {redirect_uri!r} is not registered for client "
                f"{client.client_id!r}. Registered: {', '.join(client.redirect_uris) or 'none'}.",
            )
        with self._lock:
            behaviour = self._queue.popleft() if self._queue else self.behaviour
        state = query.get("state")

        def refuse(error: str, description: str) -> Response:
            params = {"error": error, "error_description": description, "state": state}
            return self._redirect(redirect_uri, params, behaviour, tenant)

        if query.get("response_type") != "code":
            return refuse("unsupported_response_type", "The sandbox supports response_type=code.")
        scopes = tuple(dict.fromkeys(query.get("scope", "").split()))
        if not scopes:
            return refuse("invalid_request", "Missing required parameter: scope")
        challenge = query.get("code_challenge", "")
        if not challenge or query.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "PKCE is required: code_challenge_method=S256.")
        if not _S256_CHALLENGE.fullmatch(challenge):
            return refuse("invalid_request", "code_challenge is not a base64url SHA-256 digest.")
        if behaviour.error:
            return refuse(behaviour.error, behaviour.error_description or behaviour.error)
        pending = PendingAuthorization(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=query.get("nonce"),
            code_challenge=challenge,
            login_hint=query.get("login_hint", ""),
            prompt=tuple(query.get("prompt", "").split()),
            access_type=query.get("access_type", "online"),
            include_granted_scopes=query.get("include_granted_scopes") == "true",
            tenant=tenant,
            behaviour=behaviour,
            created_at=self.now(),
        )
        if behaviour.auto_approve:
            return self._approve(pending, pending.login_hint or self.default_email, scopes)
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[request_id] = pending
        return page(
            "consent.html",
            title=f"Sign in with {self.display_name}",
            stand_in_for=self.display_name,
            provider_name=self.display_name,
            client_id=client.client_id,
            redirect_origin=_origin(redirect_uri),
            action=request.url.path,
            request_id=request_id,
            email=pending.login_hint or self.default_email,
            known_users=self.users,
            account_note=self.account_note(),
            scopes=[{"value": scope, "label": describe_scope(scope)} for scope in scopes],
        )

    async def decide(self, request: Request) -> Response:
        """The consent form's answer: back to the client with a code, or with access_denied."""
        form = await request.form()
        with self._lock:
            pending = self._pending.pop(str(form.get("request_id", "")), None)
        if pending is None or self.now() - pending.created_at > PENDING_LIFETIME:
            return self._error_page(
                "This sign-in request is no longer valid",
                "It was already answered or has expired. Start again from the application.",
            )
        if form.get("decision") != "allow":
            params = {
                "error": "access_denied",
                "error_description": "The user denied the request.",
                "state": pending.state,
            }
            return self._redirect(pending.redirect_uri, params, pending.behaviour, pending.tenant)
        email = str(form.get("email", "")).strip() or pending.login_hint or self.default_email
        ticked = set(_strings(form, "scope"))
        return self._approve(pending, email, tuple(s for s in pending.scopes if s in ticked))

    def _approve(self, pending: PendingAuthorization, email: str, scopes: tuple[str, ...]) -> Response:
        user = self.user_for(email, pending.tenant)
        with self._lock:
            key = (pending.client_id, user.sub)
            if pending.include_granted_scopes:
                scopes = tuple(dict.fromkeys((*self._granted.get(key, ()), *scopes)))
            self._granted[key] = tuple(dict.fromkeys((*self._granted.get(key, ()), *scopes)))
            grant = Grant(
                grant_id=secrets.token_hex(8),
                client_id=pending.client_id,
                user=user,
                scopes=scopes,
                tenant=pending.tenant,
                nonce=pending.nonce,
                offline=self.refresh_allowed(pending, scopes) and not pending.behaviour.omit_refresh_token,
                behaviour=pending.behaviour,
            )
            code = self.new_code()
            self._codes[code] = _Code(grant, pending.redirect_uri, pending.code_challenge, self.now())
        params = {"code": code, "state": pending.state, **self.authorization_extras()}
        return self._redirect(pending.redirect_uri, params, pending.behaviour, pending.tenant)

    def _redirect(
        self, redirect_uri: str, params: dict[str, str | None], behaviour: Behaviour, tenant: str
    ) -> Response:
        if behaviour.authorize_iss is True:
            params["iss"] = self.issuer(tenant)
        elif behaviour.authorize_iss:
            params["iss"] = behaviour.authorize_iss
        return RedirectResponse(with_query(redirect_uri, params), status_code=302)

    def _error_page(self, title: str, message: str) -> Response:
        return error_page(title, message, provider_name=self.display_name, stand_in_for=self.display_name)

    async def token(self, request: Request) -> Response:
        """The token endpoint: authorization_code (with PKCE) and refresh_token grants."""
        form = await request.form()
        grant_type = str(form.get("grant_type", ""))
        call: dict[str, Any] = {
            "grant_type": grant_type,
            "client_id": None,
            "auth_method": None,
            "redirect_uri": form.get("redirect_uri"),
            "code_verifier_sent": "code_verifier" in form,
        }
        try:
            client = self._authenticate(request, form, call)
            if grant_type == "authorization_code":
                response = await self._redeem_code(client, form)
            elif grant_type == "refresh_token":
                response = await self._refresh(client, form)
            else:
                raise _TokenError(400, "unsupported_grant_type", f"{grant_type!r} is not supported.")
            error = None
        except _TokenError as exc:
            response, error = exc.response(), exc.error or None
        with self._lock:
            self._token_requests.append(TokenRequest(**call, status_code=response.status_code, error=error))
        return response

    def _authenticate(self, request: Request, form: FormData, call: dict[str, Any]) -> RegisteredClient:
        header = request.headers.get("authorization", "")
        form_id, form_secret = form.get("client_id"), form.get("client_secret")
        if header[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise _TokenError(401, "invalid_client", "Malformed Basic credentials.") from exc
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote(raw_id), unquote(raw_secret)
            if form_secret is not None:
                raise _TokenError(400, "invalid_request", "Use one client authentication method.")
            if form_id is not None and form_id != client_id:
                raise _TokenError(400, "invalid_request", "client_id differs from Basic credentials.")
            call["auth_method"] = "client_secret_basic"
        elif form_id is not None and form_secret is not None:
            client_id, secret = str(form_id), str(form_secret)
            call["auth_method"] = "client_secret_post"
        else:
            raise _TokenError(401, "invalid_client", "Client authentication is required.")
        call["client_id"] = client_id
        with self._lock:
            client = self._clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
            extra = {"WWW-Authenticate": "Basic"} if call["auth_method"] == "client_secret_basic" else {}
            raise _TokenError(401, "invalid_client", "Unauthorized", **extra)
        return client

    async def _misbehave(self, behaviour: Behaviour) -> None:
        if behaviour.token_latency:
            await asyncio.sleep(behaviour.token_latency)
        if behaviour.token_error is not None:
            status, body = behaviour.token_error
            raise _ScriptedTokenError(status, body)

    async def _redeem_code(self, client: RegisteredClient, form: FormData) -> Response:
        with self._lock:
            entry = self._codes.get(str(form.get("code", "")))
        await self._misbehave(entry.grant.behaviour if entry else self.behaviour)
        if entry is None:
            raise _TokenError(400, "invalid_grant", "Malformed auth code.")
        verifier = str(form.get("code_verifier", ""))
        with self._lock:
            if entry.used:
                self._revoke_grant(entry.grant.grant_id)
                raise _TokenError(400, "invalid_grant", "The code was already redeemed.")
            if entry.grant.client_id != client.client_id:
                raise _TokenError(400, "invalid_grant", "The code was issued to another client.")
            if self.now() - entry.issued_at > CODE_LIFETIME:
                raise _TokenError(400, "invalid_grant", "The code has expired.")
            if form.get("redirect_uri") != entry.redirect_uri:
                raise _TokenError(400, "invalid_grant", "redirect_uri differs from the authorize request.")
            if not verifier:
                raise _TokenError(400, "invalid_grant", "Missing code verifier.")
            if not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
                s256(verifier), entry.code_challenge
            ):
                raise _TokenError(400, "invalid_grant", "PKCE verification failed.")
            entry.used = True
            return self._issue(entry.grant, with_refresh=entry.grant.offline, nonce=entry.grant.nonce)

    async def _refresh(self, client: RegisteredClient, form: FormData) -> Response:
        info = self.token_info(str(form.get("refresh_token", "")))
        await self._misbehave(info.grant.behaviour if info else self.behaviour)
        if info is None or info.kind != "refresh" or info.revoked:
            raise _TokenError(400, "invalid_grant", "Token has been expired or revoked.")
        if info.client_id != client.client_id:
            raise _TokenError(400, "invalid_grant", "The refresh token belongs to another client.")
        with self._lock:
            return self._issue(info.grant, with_refresh=self.rotates_refresh_tokens, nonce=None)

    def _issue(self, grant: Grant, *, with_refresh: bool, nonce: str | None) -> Response:
        now = self.now()
        access = self.new_token("access")
        self._tokens[access] = IssuedToken("access", grant, now + ACCESS_TOKEN_LIFETIME)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "scope": self.granted_scope(grant.scopes),
            **self.token_extras(),
        }
        if with_refresh:
            refresh = self.new_token("refresh")
            self._tokens[refresh] = IssuedToken("refresh", grant, None)
            body["refresh_token"] = refresh
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(grant, access, nonce, int(now))
        return JSONResponse(body, headers=_NO_STORE)

    def _id_token(self, grant: Grant, access_token: str, nonce: str | None, now: int) -> str:
        claims = self.id_token_claims(grant, access_token, now)
        if nonce is not None:
            claims["nonce"] = nonce
        behaviour = grant.behaviour
        if behaviour.iss_spelling == "bare":
            claims["iss"] = str(claims["iss"]).split("://", 1)[-1]
        for name, value in behaviour.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self.keys.sign(claims, behaviour.sign)

    def bearer(self, request: Request) -> IssuedToken | None:
        """The live access token in ``Authorization: Bearer``, if any."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.is_valid_access_token(token.strip()):
            return None
        return self.token_info(token.strip())


def _strings(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_SCOPE_LABELS = {
    "openid": "Sign you in",
    "email": "See your email address",
    "profile": "See your name and basic profile",
    "offline_access": "Keep access when you are not using the application",
    "https://www.googleapis.com/auth/userinfo.email": "See your email address",
    "https://www.googleapis.com/auth/userinfo.profile": "See your name and basic profile",
    "https://www.googleapis.com/auth/calendar": "See, edit, share and delete your calendars",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose and send your email",
    "https://www.googleapis.com/auth/gmail.send": "Send email on your behalf",
    "https://www.googleapis.com/auth/gmail.labels": "Manage your mailbox labels",
}


def describe_scope(scope: str) -> str:
    """A person-readable label for ``scope`` (Graph scopes are read from their name)."""
    if scope in _SCOPE_LABELS:
        return _SCOPE_LABELS[scope]
    name = scope.rsplit("/", 1)[-1]
    graph = {
        "User.Read": "Sign you in and read your profile",
        "Calendars.ReadWrite": "Have full access to your calendars",
        "Mail.ReadWrite": "Read and write access to your mail",
        "Mail.Send": "Send mail as you",
    }
    return graph.get(name, f"Access {name}")
