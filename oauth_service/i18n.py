"""The languages pages are shown in: gettext catalogues chosen from `Accept-Language`.

The catalogues are the `.po` files under `locales/`, kept in the repository and compiled in
memory when the service starts, so a fresh clone needs no build step. The workflow to change
them is Babel's: `scripts/translations` extracts the strings (`babel.cfg`) and updates each
`.po`; a translator edits the `.po`; the next start picks it up. English is the source
language and the fallback.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (it is translated on display)."""
    return message


# Strings the code builds outside templates; marked here so extraction finds them.
PROVIDER_BUTTONS = (N_("Sign in with Google"), N_("Sign in with Microsoft"))
FEATURE_NAMES = {"calendar": N_("calendar"), "mail": N_("mail")}


def compile_po(path: Path) -> Translations:
    """Read one `.po` file and compile it in memory, leaving fuzzy entries out, as msgfmt does."""
    with open(path, "rb") as fh:
        catalog = read_po(fh, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def parse_accept_language(header: str) -> list[str]:
    """The language tags of an `Accept-Language` header, most preferred first (q=0 dropped)."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or len(tag) > 35:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


class Catalogues:
    """Every shipped language, compiled once; `negotiate` picks one for a request."""

    def __init__(self, directory: Path = LOCALES_DIR) -> None:
        self.translations: dict[str, gettext.NullTranslations] = {DEFAULT_LOCALE: gettext.NullTranslations()}
        for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            self.translations[po.parent.parent.name.lower().replace("_", "-")] = compile_po(po)

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(self.translations)

    def negotiate(self, accept_language: str) -> str:
        """The best shipped language for the header: exact tag, then its primary subtag, else English."""
        for tag in parse_accept_language(accept_language):
            if tag == "*":
                return DEFAULT_LOCALE
            for candidate in (tag, tag.split("-")[0]):
                if candidate in self.translations:
                    return candidate
        return DEFAULT_LOCALE

    def get(self, locale: str) -> gettext.NullTranslations:
        return self.translations.get(locale, self.translations[DEFAULT_LOCALE])
