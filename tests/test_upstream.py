"""Talking to upstreams: a connection that goes away unanswered under an idempotent GET is
tried once more on a new one (servers close idle keep-alive connections when they like, and a
reused one can be closing as the request goes out); a second drop is the upstream's failure.
"""

from __future__ import annotations

from oauth_service.sandbox import Fault

from .support import link


def test_graph_dropping_the_connection_once_still_links(service, browser, sandbox):
    sandbox.graph.enqueue(Fault.drop())
    _, outcome = link(service, browser, "microsoft")
    assert outcome.ok, outcome.url
    assert sandbox.graph.calls == 2


def test_graph_dropping_it_twice_is_a_provider_error(service, browser, sandbox):
    sandbox.graph.enqueue(Fault.drop(), Fault.drop())
    _, outcome = link(service, browser, "microsoft")
    assert outcome.params["error"] == "provider_error"
    assert "Graph could not be reached" in outcome.params["error_description"]
    assert sandbox.graph.calls == 2
    assert not [r for r in sandbox.unipile.requests if r.method == "POST"]

