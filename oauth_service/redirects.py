"""Where the browser is sent back to the app: the allowlist check and the two outcome URLs.

Redirect targets are checked once, when the app's backend creates the link session, against
exact origins; every outcome URL is then built from the stored, already-checked URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .settings import is_loopback_host, origin_of

MAX_URL_LENGTH = 2048


def redirect_url_problem(url: str, allowed_origins: frozenset[str]) -> str | None:
    """Why `url` may not be a redirect target, or None when it may."""
    if not isinstance(url, str) or not url:
        return "must be an absolute URL"
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if any(c in url for c in "\\\r\n\t\x00 ") or not url.isprintable():
        return "must not contain whitespace, control characters or backslashes"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "must use https://"
    if not parts.hostname or not url.lower().startswith(f"{parts.scheme}://"):
        return "must be an absolute URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not contain user information"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return "must use https://"
    if parts.hostname.endswith(".") or not parts.hostname.isascii():
        return "host must be written exactly as registered"
    if origin_of(url) not in allowed_origins:
        return "origin is not in ALLOWED_REDIRECT_ORIGINS"
    return None


def with_params(url: str, params: dict[str, str | None]) -> str:
    """`url` with `params` appended to its query (None values left out), fragment kept."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def success_redirect(
    success_url: str, *, account_id: str, provider: str, app_state: str | None, link_session: str
) -> str:
    return with_params(
        success_url,
        {
            "account_id": account_id,
            "provider": provider,
            "state": app_state,
            "link_session": link_session,
        },
    )


def failure_redirect(
    failure_url: str,
    *,
    error: str,
    description: str,
    app_state: str | None,
    link_session: str,
    retry_url: str | None = None,
    hosted_url: str | None = None,
) -> str:
    return with_params(
        failure_url,
        {
            "error": error,
            "error_description": description,
            "state": app_state,
            "link_session": link_session,
            "retry_url": retry_url,
            "hosted_url": hosted_url,
        },
    )
