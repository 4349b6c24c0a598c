"""Open redirects through success_redirect_url / failure_redirect_url (RFC 9700 4.11).

Targets are checked once, when the app's backend creates the session, against exact origins;
a refused URL means no session, so no flow, no exchange and no Unipile call can follow.
"""

from __future__ import annotations

import pytest

from ..support import APP_ORIGIN
from .helpers import assert_refused_cleanly

ATTACKS = {
    "other origin": "https://evil.example/cb",
    "other origin, allowed name as subdomain": "https://app.example.com.evil.example/cb",
    "allowed name as a suffix": "https://evilapp.example.com/cb",
    "javascript scheme": "javascript:alert(document.domain)//https://app.example.com/",
    "javascript scheme, mixed case": "JaVaScRiPt:alert(1)",
    "data scheme": "data:text/html,<script>alert(1)</script>",
    "vbscript scheme": "vbscript:msgbox(1)",
    "file scheme": "file:///etc/passwd",
    "scheme-relative": "//evil.example/cb",
    "path only": "/cb",
    "triple slash": "https:///evil.example/cb",
    "single slash": "https:/evil.example/cb",
    "no slashes": "https:evil.example/cb",
    "backslashes": "https:\\\\evil.example\\cb",
    "backslash after the host": "https://evil.example\\@app.example.com/cb",
    "slash and backslash": "https:/\\evil.example/cb",
    "userinfo": "https://app.example.com@evil.example/cb",
    "userinfo with password": "https://app.example.com:pw@evil.example/cb",
    "encoded at": "https://app.example.com%40evil.example/cb",
    "mixed-case look-alike": "https://APP.EXAMPLE.COM.evil.example/cb",
    "IDN look-alike (Cyrillic a)": "https://\u0430pp.example.com/cb",
    "IDN look-alike, punycode": "https://xn--pp-8cd.example.com/cb",
    "fullwidth dot": "https://app\uff0eexample\uff0ecom/cb",
    "fullwidth solidus": "https://evil.example\uff0fapp.example.com",
    "trailing dot": "https://app.example.com./cb",
    "other port": "https://app.example.com:8443/cb",
    "port zero": "https://app.example.com:0/cb",
    "port out of range": "https://app.example.com:99999/cb",
    "http downgrade": "http://app.example.com/cb",
    "tab in host": "https://app.example.com\t.evil.example/cb",
    "newline": "https://app.example.com/cb\r\nSet-Cookie: x=y",
    "NUL": "https://app.example.com\x00.evil.example/cb",
    "space before the scheme": " https://evil.example/cb",
    "IPv6 loopback": "https://[::1]/cb",
    "IP address": "https://93.184.216.34/cb",
    "fragment trick": "https://evil.example#@app.example.com",
    "query trick": "https://evil.example?@app.example.com",
    "too long": f"{APP_ORIGIN}/{'a' * 3000}",
    "empty": "",
}


@pytest.mark.parametrize("field", ["success_redirect_url", "failure_redirect_url"])
@pytest.mark.parametrize("url", list(ATTACKS.values()), ids=list(ATTACKS))
def test_open_redirect_target_is_refused(shared_service, sandbox, field, url):
    body = {
        "name": "user-42",
        "success_redirect_url": f"{APP_ORIGIN}/success",
        "failure_redirect_url": f"{APP_ORIGIN}/failure",
        field: url,
    }
    response = shared_service.api.post("/api/link-sessions", json=body)
    assert response.status_code == 422, (url, response.text)
    assert field in [e["field"] for e in response.json()["errors"]]
    assert "url" not in response.json()
    assert_refused_cleanly(sandbox)


@pytest.mark.parametrize(
    "url",
    [f"{APP_ORIGIN}/cb?x=1#frag", "HTTPS://APP.EXAMPLE.COM/cb", "https://app.example.com:443/cb"],
)
def test_the_allowed_origin_in_any_spelling_is_accepted(shared_service, url):
    # The control: the same origin, however it is written, is what the browser will reach.
    body = {"name": "u", "success_redirect_url": url, "failure_redirect_url": url}
    assert shared_service.api.post("/api/link-sessions", json=body).status_code == 201
