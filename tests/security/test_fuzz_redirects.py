"""Property-based tests of redirect-URL validation: nothing is accepted that a browser would
take anywhere but an allowed origin, and nothing raises."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oauth_service.redirects import redirect_url_problem

ALLOWED = frozenset({"https://app.example.com", "http://127.0.0.1:8080"})
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What a browser navigates to, read independently of urllib: scheme, then the authority up to
# the first of / ? # (and \, which browsers read as / for http and https).
_SHAPE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#\\]*)(?P<rest>[/?#].*)?", re.S)


def browser_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) a browser would go to, or None if it is not plainly one origin."""
    m = _SHAPE.fullmatch(url)
    if not m:
        return None
    scheme, authority = m["scheme"].lower(), m["authority"]
    if "@" in authority or not authority:
        return None
    host, _, port = authority.rpartition(":") if re.search(r":\d*$", authority) else (authority, "", "")
    default = {"https": 443, "http": 80}.get(scheme)
    return scheme, host.lower(), int(port) if port else default


def allowed_by_a_browser(url: str) -> bool:
    origin = browser_origin(url)
    if origin is None or any(c in url for c in "\\\t\r\n\x00 "):
        return False
    scheme, host, port = origin
    return (scheme, host, port) in {("https", "app.example.com", 443), ("http", "127.0.0.1", 8080)}


def check(url: str) -> None:
    problem = redirect_url_problem(url, ALLOWED)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        assert allowed_by_a_browser(url), f"accepted {url!r}"


SCHEMES = st.sampled_from(["https", "HTTPS", "hTtPs", "http", "javascript", "data", "ftp", "", "https "])
SEPARATORS = st.sampled_from(["://", ":/", ":", ":///", "://\\", ":\\\\", "//", ":/\\", "://@", ":%2F%2F"])
USERINFO = st.sampled_from(["", "user@", "app.example.com@", "a:b@", "@", "app.example.com:443@", "%40"])
HOSTS = st.sampled_from(
    [
        "app.example.com",
        "APP.EXAMPLE.COM",
        "evil.example",
        "app.example.com.",
        "app.example.com.evil.example",
        "\u0430pp.example.com",
        "xn--pp-8cd.example.com",
        "127.0.0.1",
        "127.1",
        "[::1]",
        "0x7f.0.0.1",
        "app.example.com%2eevil.example",
        "app.example.co",
        "",
        "app.example.com\x00",
        "app\uff0eexample.com",
        "localhost",
        "app.example.com\t",
    ]
)
PORTS = st.sampled_from(["", ":443", ":0443", ":8443", ":8080", ":", ":abc", ":99999", ":80", ":-1", ": 443"])
RESTS = st.text(alphabet="/?#@\\:.;%a-_~ \t\n\u3002", max_size=12)


@FUZZ
@given(SCHEMES, SEPARATORS, USERINFO, HOSTS, PORTS, RESTS)
@example("https", "://", "", "app.example.com", "", "/ok")
@example("http", "://", "", "127.0.0.1", ":8080", "/ok")
def test_composed_urls_are_accepted_only_for_an_allowed_origin(scheme, sep, userinfo, host, port, rest):
    check(f"{scheme}{sep}{userinfo}{host}{port}{rest}")


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_and_is_never_accepted_wrongly(url):
    check(url)


@FUZZ
@given(st.text(max_size=60))
def test_anything_after_an_allowed_origin_and_a_slash_stays_on_it(rest):
    check(f"https://app.example.com/{rest}")
    check(f"https://app.example.com?{rest}")
    check(f"https://app.example.com#{rest}")


@FUZZ
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-:@[]0123456789", max_size=40))
def test_any_authority_that_is_not_the_allowed_one_is_refused(authority):
    url = f"https://{authority}/cb"
    check(url)
    if authority.lower() not in ("app.example.com", "app.example.com:443") and not re.fullmatch(
        r"app\.example\.com:0*443", authority.lower()
    ):
        assert redirect_url_problem(url, ALLOWED) is not None, url


def test_the_controls_are_accepted():
    assert redirect_url_problem("https://app.example.com/cb?x=1#y", ALLOWED) is None
    assert redirect_url_problem("http://127.0.0.1:8080/cb", ALLOWED) is None
