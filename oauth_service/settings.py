"""Typed settings read from the environment (and `.env`), with defaults from `config/`.

Every problem is collected and reported at once, each with a sentence saying how to fix it,
so an operator fixes a configuration in one pass instead of one restart per mistake.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import limits
from dotenv import dotenv_values


def _config_dir() -> Path:
    """`config/` of a checkout (editable install), else the copy a wheel installs under
    `{prefix}/share/oauth-service/config`; OAUTH_SERVICE_CONFIG_DIR overrides both."""
    if os.environ.get("OAUTH_SERVICE_CONFIG_DIR"):
        return Path(os.environ["OAUTH_SERVICE_CONFIG_DIR"])
    checkout = Path(__file__).parent.parent / "config"
    installed = Path(sys.prefix) / "share" / "oauth-service" / "config"
    return checkout if (checkout / "providers.toml").is_file() or not installed.is_dir() else installed


CONFIG_DIR = _config_dir()
FEATURES = ("calendar", "mail")
HOSTED_AUTH_MODES = ("v1", "v2", "off")
_HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class ConfigError(Exception):
    """The configuration cannot run; `problems` holds one actionable sentence per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ProviderSettings:
    """One OAuth client of the customer's, with the endpoints and scopes it is used with."""

    name: str
    label: str
    client_id: str
    client_secret: str
    metadata_url: str
    base_scopes: tuple[str, ...]
    feature_scopes: Mapping[str, tuple[str, ...]]
    authorize_params: Mapping[str, str]
    token_endpoint_auth_method: str = "client_secret_post"  # noqa: S105 (a method name)
    tenant: str = ""
    graph_url: str = ""
    graph_resource: str = ""


@dataclass(frozen=True)
class Branding:
    """What the pages people meet show of the customer's product."""

    app_name: str = "Your app"
    logo_url: str = ""
    accent_color: str = "#2563eb"
    support_url: str = ""
    privacy_url: str = ""


@dataclass(frozen=True)
class Settings:
    public_url: str
    secret_keys: tuple[str, ...]
    api_keys: tuple[str, ...]
    database_url: str
    providers: Mapping[str, ProviderSettings]
    unipile_dsn: str
    unipile_api_key: str
    unipile_api_url: str = "https://api.unipile.com"
    unipile_v2_api_key: str = ""
    unipile_hosted_auth: str = "v1"
    allowed_redirect_origins: frozenset[str] = frozenset()
    webhook_url: str = ""
    webhook_secret: str = ""
    log_level: str = "info"
    branding: Branding = field(default_factory=Branding)
    state_ttl: int = 600
    link_session_ttl: int = 3600
    link_session_max_ttl: int = 7 * 24 * 3600
    upstream_timeout: float = 15.0
    hosted_notify_timeout: float = 300.0
    # Every provider's scope sets, configured or not: the hosted wizard narrows to them too.
    feature_scopes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    provider_labels: Mapping[str, str] = field(default_factory=dict)
    handoff_retry_base: float = 2.0
    handoff_retry_cap: float = 300.0
    handoff_deadline: float = 24 * 3600.0
    worker_poll: float = 1.0
    session_retention: float = 7 * 24 * 3600.0
    log_format: str = "json"
    metrics_token: str = ""
    templates_dir: str = ""
    # Per-client rate limits (`limits` notation such as "60/minute"; None: off), see ratelimit.py.
    rate_limit_start: str | None = "60/minute"
    rate_limit_callback: str | None = "60/minute"
    rate_limit_api: str | None = "1200/minute"
    rate_limit_api_auth_failures: str | None = "20/minute"
    max_body_bytes: int = 64 * 1024
    max_url_bytes: int = 8 * 1024
    # Back-pressure (see backpressure.py): requests in flight per process before 503; None: off.
    max_concurrent_requests: int | None = 1000
    busy_retry_after: int = 2

    @property
    def handoff_lease(self) -> float:
        """How long a worker may hold a hand-off: longer than any one call to Unipile can take."""
        return 2 * self.upstream_timeout + 5

    @property
    def secure_cookies(self) -> bool:
        """Cookies are `Secure` everywhere but plain-http loopback (local development, demo)."""
        return urlsplit(self.public_url).scheme == "https"

    def callback_url(self, provider: str) -> str:
        return f"{self.public_url}/oauth/{provider}/callback"


def scopes_for(
    feature_scopes: Mapping[str, tuple[str, ...]], features: list[str], base: tuple[str, ...] = ()
) -> list[str]:
    """`base` then each feature's scopes, in order, each once: what to ask a provider for."""
    scopes = list(base)
    for feature in features:
        scopes.extend(s for s in feature_scopes[feature] if s not in scopes)
    return scopes


def is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str:
    """The exact `scheme://host[:port]` of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}"


def _graph_scopes(default_graph: str, graph_url: str) -> Callable[[str], str]:
    """Graph scopes name their cloud's Graph host: a national cloud gets its own."""
    default_prefix = default_graph.rstrip("/") + "/"

    def scope_of(scope: str) -> str:
        if default_graph and graph_url and scope.startswith(default_prefix):
            return graph_url + "/" + scope[len(default_prefix) :]
        return scope

    return scope_of


def load_provider_defaults(config_dir: Path = CONFIG_DIR) -> dict:
    with open(config_dir / "providers.toml", "rb") as fh:
        return tomllib.load(fh)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env"
) -> Settings:
    """Build Settings from `environ` (default: the process environment over `.env`)."""
    env: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    problems: list[str] = []

    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    def listed(name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in get(name).split(",") if item.strip())

    def number(name: str, default: float, kind: type = int, unit: str = "seconds") -> float:
        raw = get(name)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a number; give a whole number of {unit}.")
            return default
        if value <= 0:
            problems.append(f"{name} must be greater than zero.")
            return default
        return value

    public_url = get("PUBLIC_URL").rstrip("/")
    parts = urlsplit(public_url)
    if not public_url:
        problems.append("PUBLIC_URL is not set; set it to the https:// address users reach us at.")
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"PUBLIC_URL={public_url!r} is not an absolute http(s) URL.")
    elif parts.scheme == "http" and not is_loopback_host(parts.hostname):
        problems.append(
            f"PUBLIC_URL={public_url!r} uses http:// on a non-loopback host; use https:// "
            "(browsers and providers need it for secure cookies and redirect URIs)."
        )
    elif parts.query or parts.fragment:
        problems.append("PUBLIC_URL must not carry a query or fragment.")

    secret_keys = listed("SECRET_KEYS")
    if not secret_keys:
        problems.append(
            "SECRET_KEYS is not set; set it to one or more long random strings, comma-separated "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)."
        )
    elif any(len(key) < 16 for key in secret_keys):
        problems.append("Every key in SECRET_KEYS must be at least 16 characters long.")

    api_keys = listed("API_KEYS")
    if not api_keys:
        problems.append("API_KEYS is not set; your backend needs one to create link sessions.")

    origins: set[str] = set()
    for origin in listed("ALLOWED_REDIRECT_ORIGINS"):
        o = urlsplit(origin)
        if o.scheme not in ("http", "https") or not o.hostname or o.path not in ("", "/"):
            problems.append(
                f"ALLOWED_REDIRECT_ORIGINS entry {origin!r} is not an origin (scheme://host[:port], no path)."
            )
        else:
            origins.add(origin_of(origin))

    defaults = load_provider_defaults()
    providers: dict[str, ProviderSettings] = {}
    # Graph scopes name their cloud's Graph host, for our own client and the v2 wizard's alike.
    graph_resource = get("MICROSOFT_GRAPH_RESOURCE", defaults["microsoft"]["graph_url"]).rstrip("/")
    scope_rewrites = {
        name: _graph_scopes(d.get("graph_url", ""), graph_resource if name == "microsoft" else "")
        for name, d in defaults.items()
    }
    for name, prefix in (("google", "GOOGLE"), ("microsoft", "MICROSOFT")):
        client_id, secret = get(f"{prefix}_CLIENT_ID"), get(f"{prefix}_CLIENT_SECRET")
        if client_id and not secret:
            problems.append(
                f"{prefix}_CLIENT_ID is set but {prefix}_CLIENT_SECRET is not; copy the secret "
                "from the provider's console, or unset the id to turn the provider off."
            )
            continue
        if secret and not client_id:
            problems.append(f"{prefix}_CLIENT_SECRET is set but {prefix}_CLIENT_ID is not.")
            continue
        if not client_id:
            continue
        d = defaults[name]
        tenant = get("MICROSOFT_TENANT", d.get("tenant", "")) if name == "microsoft" else ""
        if name == "microsoft":
            authority = get("MICROSOFT_AUTHORITY", d["authority"]).rstrip("/")
            metadata_url = get(
                "MICROSOFT_METADATA_URL",
                f"{authority}/{tenant}/v2.0/.well-known/openid-configuration",
            )
        else:
            metadata_url = get("GOOGLE_METADATA_URL", d["metadata_url"])
        graph_url = get("MICROSOFT_GRAPH_URL", d["graph_url"]).rstrip("/") if name == "microsoft" else ""
        resource = graph_resource if name == "microsoft" else ""
        scope_of = scope_rewrites[name]
        providers[name] = ProviderSettings(
            name=name,
            label=d["label"],
            client_id=client_id,
            client_secret=secret,
            metadata_url=metadata_url,
            base_scopes=tuple(scope_of(sc) for sc in d["base_scopes"]),
            feature_scopes={f: tuple(scope_of(sc) for sc in s) for f, s in d["features"].items()},
            authorize_params=dict(d.get("authorize_params", {})),
            token_endpoint_auth_method=d.get("token_endpoint_auth_method", "client_secret_post"),
            tenant=tenant,
            graph_url=graph_url,
            graph_resource=resource,
        )

    unipile_dsn = get("UNIPILE_DSN").rstrip("/")
    unipile_api_key = get("UNIPILE_API_KEY")
    if not unipile_dsn or not unipile_api_key:
        problems.append(
            "UNIPILE_DSN and UNIPILE_API_KEY must both be set; find them in Unipile's dashboard "
            "(the DSN looks like https://api8.unipile.com:13851)."
        )
    hosted = get("UNIPILE_HOSTED_AUTH", "v1").lower()
    if hosted not in HOSTED_AUTH_MODES:
        problems.append(f"UNIPILE_HOSTED_AUTH={hosted!r} must be one of v1, v2, off.")
    if not providers and hosted == "off":
        problems.append(
            "No provider is configured: set GOOGLE_CLIENT_ID/SECRET or MICROSOFT_CLIENT_ID/SECRET, "
            "or turn on UNIPILE_HOSTED_AUTH."
        )

    webhook_url, webhook_secret = get("WEBHOOK_URL"), get("WEBHOOK_SECRET")
    if webhook_url and not webhook_secret:
        problems.append("WEBHOOK_URL is set but WEBHOOK_SECRET is not; receivers need it to verify.")
    if webhook_url and urlsplit(webhook_url).scheme not in ("http", "https"):
        problems.append(f"WEBHOOK_URL={webhook_url!r} must be an http(s) URL.")

    accent = get("APP_ACCENT_COLOR", "#2563eb")
    if not _HEX_COLOUR.match(accent):
        problems.append(f"APP_ACCENT_COLOR={accent!r} must be a #rrggbb colour.")
        accent = "#2563eb"
    branding = Branding(
        app_name=get("APP_NAME", "Your app"),
        logo_url=get("APP_LOGO_URL"),
        accent_color=accent,
        support_url=get("SUPPORT_URL"),
        privacy_url=get("PRIVACY_URL"),
    )
    for name, url in (
        ("APP_LOGO_URL", branding.logo_url),
        ("SUPPORT_URL", branding.support_url),
        ("PRIVACY_URL", branding.privacy_url),
    ):
        if url and urlsplit(url).scheme not in ("http", "https"):
            problems.append(f"{name}={url!r} must be an http(s) URL.")

    log_level = get("LOG_LEVEL", "info").lower()
    if log_level not in ("debug", "info", "warning", "error"):
        problems.append(f"LOG_LEVEL={log_level!r} must be debug, info, warning or error.")

    log_format = get("LOG_FORMAT", "json").lower()
    if log_format not in ("json", "text"):
        problems.append(f"LOG_FORMAT={log_format!r} must be json or text.")
    metrics_token = get("METRICS_TOKEN")
    if metrics_token and len(metrics_token) < 16:
        problems.append("METRICS_TOKEN must be at least 16 characters long (it guards /metrics).")
    templates_dir = get("TEMPLATES_DIR")
    if templates_dir and not Path(templates_dir).is_dir():
        problems.append(f"TEMPLATES_DIR={templates_dir!r} is not a directory.")
    def rate(name: str, default: str) -> str | None:
        raw = get(name, default)
        if raw.lower() in ("off", "0", "none"):
            return None
        try:
            limits.parse(raw)
        except ValueError:
            problems.append(
                f"{name}={raw!r} is not a rate limit; write it as N/second, N/minute or N/hour "
                "(e.g. 60/minute), or off."
            )
            return default
        return raw

    settings = Settings(
        public_url=public_url,
        secret_keys=secret_keys,
        api_keys=api_keys,
        database_url=get("DATABASE_URL", "sqlite:///./oauth_service.db"),
        providers=providers,
        unipile_dsn=unipile_dsn,
        unipile_api_key=unipile_api_key,
        unipile_api_url=get("UNIPILE_API_URL", "https://api.unipile.com").rstrip("/"),
        unipile_v2_api_key=get("UNIPILE_V2_API_KEY"),
        unipile_hosted_auth=hosted,
        allowed_redirect_origins=frozenset(origins),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        log_level=log_level,
        branding=branding,
        state_ttl=int(number("STATE_TTL_SECONDS", 600)),
        link_session_ttl=int(number("LINK_SESSION_TTL_SECONDS", 3600)),
        upstream_timeout=float(number("UPSTREAM_TIMEOUT_SECONDS", 15.0, float)),
        hosted_notify_timeout=float(number("HOSTED_NOTIFY_TIMEOUT_SECONDS", 300.0, float)),
        provider_labels={name: d["label"] for name, d in defaults.items()},
        feature_scopes={
            name: {f: tuple(map(scope_rewrites[name], scopes)) for f, scopes in d["features"].items()}
            for name, d in defaults.items()
        },
        handoff_retry_base=float(number("HANDOFF_RETRY_BASE_SECONDS", 2.0, float)),
        handoff_retry_cap=float(number("HANDOFF_RETRY_CAP_SECONDS", 300.0, float)),
        handoff_deadline=float(number("HANDOFF_DEADLINE_SECONDS", 24 * 3600.0, float)),
        worker_poll=float(number("WORKER_POLL_SECONDS", 1.0, float)),
        session_retention=float(number("SESSION_RETENTION_SECONDS", 7 * 24 * 3600.0, float)),
        log_format=log_format,
        metrics_token=metrics_token,
        templates_dir=templates_dir,
        rate_limit_start=rate("RATE_LIMIT_START", "60/minute"),
        rate_limit_callback=rate("RATE_LIMIT_CALLBACK", "60/minute"),
        rate_limit_api=rate("RATE_LIMIT_API", "1200/minute"),
        rate_limit_api_auth_failures=rate("RATE_LIMIT_API_AUTH_FAILURES", "20/minute"),
        max_body_bytes=int(number("MAX_BODY_BYTES", 64 * 1024, unit="bytes")),
        max_url_bytes=int(number("MAX_URL_BYTES", 8 * 1024, unit="bytes")),
        max_concurrent_requests=(
            None
            if get("MAX_CONCURRENT_REQUESTS", "").lower() in ("off", "none")
            else int(number("MAX_CONCURRENT_REQUESTS", 1000, unit="requests"))
        ),
        busy_retry_after=int(number("BUSY_RETRY_AFTER_SECONDS", 2)),
    )
    if not 60 <= settings.link_session_ttl <= settings.link_session_max_ttl:
        problems.append(
            f"LINK_SESSION_TTL_SECONDS must be from 60 to {settings.link_session_max_ttl} "
            "(it is the default of every link session's expires_in)."
        )
    if problems:
        raise ConfigError(problems)
    return settings
