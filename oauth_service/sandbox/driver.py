"""Drive sandbox pages from a test the way a person would: read the form, submit it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx2


@dataclass
class Form:
    """The first form of a page: where it posts, its fields and its checkboxes."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    checkboxes: dict[str, list[str]] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: Form | None = None
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form" and self.form is None:
            self.form = Form(action=attr.get("action", ""))
        elif self.form is None or self._done:
            return
        elif tag == "input" and "name" in attr:
            kind = attr.get("type", "text")
            if kind == "checkbox":
                values = self.form.checkboxes.setdefault(attr["name"], [])
                if "checked" in attr:
                    values.append(attr.get("value", "on"))
            elif kind not in ("submit", "button"):
                self.form.fields[attr["name"]] = attr.get("value", "")
        elif tag == "button" and "name" in attr:
            self.form.buttons.append((attr["name"], attr.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.form is not None:
            self._done = True


def parse_form(html: str, page_url: str) -> Form:
    """The page's first form, with its action resolved against ``page_url``."""
    parser = _FormParser()
    parser.feed(html)
    if parser.form is None:
        raise ValueError("the page has no form")
    parser.form.action = urljoin(page_url, parser.form.action or page_url)
    return parser.form


def consent(
    client: httpx2.Client,
    authorize_url: str,
    *,
    decision: str = "allow",
    email: str | None = None,
    untick: Iterable[str] = (),
) -> httpx2.Response:
    """Open a provider's consent page and answer it; returns the provider's answer.

    A scripted error or ``auto_approve`` answers the authorize request directly, and an error
    page has no form: both are returned as they are.
    """
    shown = client.get(authorize_url, follow_redirects=False)
    if shown.status_code != 200:
        return shown
    form = parse_form(shown.text, str(shown.url))
    refused = set(untick)
    data: dict[str, str | list[str]] = dict(form.fields)
    if email is not None:
        data["email"] = email
    data["scope"] = [scope for scope in form.checkboxes.get("scope", []) if scope not in refused]
    data["decision"] = decision
    return client.post(form.action, data=data, follow_redirects=False)


def hosted_wizard(
    client: httpx2.Client, link_url: str, *, action: str = "google", email: str = ""
) -> httpx2.Response:
    """Run a Unipile hosted-auth link: ``action`` is ``google``, ``outlook`` or ``fail``."""
    shown = client.get(link_url, follow_redirects=False)
    if shown.status_code != 200:
        return shown
    form = parse_form(shown.text, str(shown.url))
    data = {**form.fields, "email": email, "action": action}
    return client.post(form.action, data=data, follow_redirects=False)
