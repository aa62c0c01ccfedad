"""Loading a service's compiled gettext catalogs (locales/<lang>/LC_MESSAGES/messages.mo, built by make install)."""

from __future__ import annotations

from pathlib import Path

from babel.support import Translations


class CatalogsNotCompiled(RuntimeError):
    pass


def translations(locales: Path, language: str) -> Translations:
    if not (locales / language / "LC_MESSAGES" / "messages.mo").exists():
        raise CatalogsNotCompiled(
            f"no compiled catalog for {language!r}: run `make install` (pybabel compile -d {locales})"
        )
    loaded = Translations.load(str(locales), [language], domain="messages")
    assert isinstance(loaded, Translations)  # load() falls back to NullTranslations only without a catalog
    return loaded
