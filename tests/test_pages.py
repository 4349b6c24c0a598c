"""Pages over HTTP: the language from Accept-Language, complete catalogues, overridable templates, theme."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from oauth_service.i18n import LOCALES_DIR, parse_accept_language
from oauth_service.pages import contrast, theme_css

ROOT = Path(__file__).resolve().parent.parent


def h1(page: str) -> str:
    return re.search(r"<h1[^>]*>\s*(.*?)\s*</h1>", page, re.S).group(1)


@pytest.mark.parametrize(
    ("header", "lang", "heading"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Verbinden Sie Ihren Kalender mit Acme Calendar"),
        ("es-MX", "es", "Vincula tu calendario a Acme Calendar"),
        ("pt-BR, fr;q=0.7", "fr", "Associez votre agenda à Acme Calendar"),
        ("ja, zh;q=0.8", "en", "Connect your calendar to Acme Calendar"),
        ("", "en", "Connect your calendar to Acme Calendar"),
    ],
)
def test_the_link_page_speaks_the_first_language_we_have(service, browser, header, lang, heading):
    created = service.create_session()
    page = browser.get(created["url"], headers={"Accept-Language": header})
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert h1(page.text) == heading
    assert page.headers["content-language"] == lang
    assert "accept-language" in page.headers["vary"].lower()


def test_the_heading_names_calendar_and_mail_when_both_are_wanted(service, browser):
    created = service.create_session(features=["calendar", "mail"])
    page = browser.get(created["url"], headers={"Accept-Language": "es"})
    assert h1(page.text) == "Vincula tu calendario y tu correo a Acme Calendar"


def test_error_pages_are_translated_too(service, browser):
    page = browser.get(f"{service.url}/link/nope", headers={"Accept-Language": "de"})
    assert page.status_code == 404
    assert h1(page.text) == "Seite nicht gefunden"
    assert "Kehren Sie zu Acme Calendar zurück" in page.text


def test_accept_language_is_ordered_by_quality():
    assert parse_accept_language("fr;q=0.5, de, es;q=0.9, it;q=0") == ["de", "es", "fr"]
    assert parse_accept_language("en;q=nonsense, de") == ["de"]


def catalogue(path: Path):
    with open(path, "rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("lang", ["fr", "de", "es"])
def test_every_string_is_translated_and_keeps_its_placeholders(lang):
    template = catalogue(LOCALES_DIR / "messages.pot")
    po = catalogue(LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po")
    for message in template:
        if not message.id:
            continue
        translated = po.get(message.id)
        assert translated is not None and translated.string, f"{lang}: {message.id!r} is not translated"
        assert "fuzzy" not in translated.flags, f"{lang}: {message.id!r} is fuzzy"
        placeholders = re.compile(r"%\(\w+\)s|\{\w+\}")
        assert sorted(placeholders.findall(translated.string)) == sorted(placeholders.findall(message.id))


def test_the_catalogue_template_is_up_to_date(tmp_path):
    """Someone who marks a new string also runs scripts/translations (and the translators follow)."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [str(ROOT / ".venv/bin/pybabel") if (ROOT / ".venv/bin/pybabel").exists() else "pybabel",
         "extract", "-F", "babel.cfg", "--no-location", "--omit-header", "-o", str(fresh), "."],
        cwd=ROOT, check=True, capture_output=True,
    )
    ids = {m.id for m in catalogue(fresh) if m.id}
    assert ids == {m.id for m in catalogue(LOCALES_DIR / "messages.pot") if m.id}


def test_templates_dir_overrides_a_template_and_keeps_the_rest(make_service, browser, tmp_path):
    (tmp_path / "link.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1 id="page-title">{{ _("Connect your account") }}'
        "</h1>{% for c in choices %}<a data-provider=\"{{ c.provider }}\" href=\"{{ c.href }}\">"
        "{{ c.provider }}</a>{% endfor %}<p class=\"custom\">Our own words</p>{% endblock %}"
    )
    service = make_service(TEMPLATES_DIR=str(tmp_path))
    created = service.create_session()
    page = browser.get(created["url"], headers={"Accept-Language": "fr"})
    assert h1(page.text) == "Associez votre compte"  # still translated
    assert '<p class="custom">Our own words</p>' in page.text
    assert 'href="/static/style.css"' in page.text  # base.html still comes from the package
    error = browser.get(f"{service.url}/link/nope")
    assert "Page not found" in error.text  # error.html was not overridden


def test_a_missing_templates_dir_is_a_configuration_error(make_service, tmp_path):
    from oauth_service.settings import ConfigError

    with pytest.raises(ConfigError, match="TEMPLATES_DIR"):
        make_service(TEMPLATES_DIR=str(tmp_path / "absent"))


@pytest.mark.parametrize("accent", ["#2563eb", "#facc15", "#ffffff", "#000000", "#0f766e"])
def test_the_theme_keeps_text_readable_whatever_the_accent(accent):
    values = dict(re.findall(r"--([\w-]+): (#[0-9a-f]{6})", theme_css(accent)))
    assert values["accent"] == accent
    assert contrast(values["on-accent"], accent) >= 4.5  # white or near-black always reaches it
    assert contrast(values["accent-ink"], "#ffffff") >= 4.5


def test_the_theme_is_served_with_the_configured_accent(make_service):
    service = make_service(APP_ACCENT_COLOR="#0f766e")
    answer = service.api.get("/theme.css")
    assert answer.headers["content-type"].startswith("text/css")
    assert "--accent: #0f766e" in answer.text
