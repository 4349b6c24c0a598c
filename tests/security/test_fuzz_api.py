"""Schemathesis against the running service: for every request the published OpenAPI document
allows (and many it does not), no 5xx, and every answer conforms to the document; and the
browser routes, fuzzed with Hypothesis, answer anything with a branded page."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..support import API_KEY, RunningService

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_service(sandbox_server, tmp_path_factory) -> Iterator[RunningService]:
    # Rate limits off: they would answer (conforming) 429s instead of exercising validation.
    db = tmp_path_factory.mktemp("fuzz") / "service.db"
    service = RunningService(
        sandbox_server.app.state.sandbox, sandbox_server.url, f"sqlite:///{db}",
        RATE_LIMIT_API="off", RATE_LIMIT_API_AUTH_FAILURES="off",
    )
    yield service
    service.stop()


def operations(service: RunningService) -> list:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


# Schemathesis' own pytest integration (from_fixture) does not run under pytest 9, so each
# operation's strategy is driven by Hypothesis directly, the same way it would drive it.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_every_generated_request_as_documented(fuzzed_service, mode):
    ops = operations(fuzzed_service)
    assert {op.label for op in ops} == {"POST /api/link-sessions", "GET /api/link-sessions/{id}"}
    # Everything the document allows must be accepted; what it does not allow only has to be
    # answered as documented (api.py accepts more than plain ASCII, the document asks for less).
    checks = [*CHECKS, positive_data_acceptance] if mode == GenerationMode.POSITIVE else CHECKS
    for op in ops:

        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(op.as_strategy(generation_mode=mode))
        def answers_as_documented(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {API_KEY}"}, checks=checks)

        answers_as_documented()


QUERY_VALUES = st.text(max_size=80) | st.sampled_from(["", "access_denied", "https://attacker.example"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    route=st.sampled_from(["/oauth/google/callback", "/oauth/microsoft/callback", "/oauth/x/callback"]),
    params=st.dictionaries(
        st.sampled_from(["state", "code", "error", "error_description", "iss", "scope", "session_state"]),
        QUERY_VALUES,
        max_size=5,
    ),
    token=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=60),
)
def test_browser_routes_answer_any_input_with_a_page_never_a_5xx(fuzzed_service, route, params, token):
    # The callback with any query, and link/finishing URLs with any token: always a branded page.
    base = fuzzed_service.url
    quoted = quote(token, safe="")
    with httpx2.Client(timeout=10) as http:
        answers = [
            http.get(base + route, params=params),
            http.get(f"{base}/link/{quoted}"),
            http.get(f"{base}/link/{quoted}/google"),
            http.get(f"{base}/finishing/{quoted}", params={"poll": "1"}),
        ]
    for response in answers:
        url = str(response.url)
        assert response.status_code < 500, (url, params, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), (url, response.headers)
        assert response.headers["cache-control"] == "no-store"
        assert "Traceback" not in response.text
