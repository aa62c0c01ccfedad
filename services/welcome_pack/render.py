"""Renders welcome letters: one Jinja2 template, gettext catalogs per language, Babel for dates and times,
WeasyPrint for PDF. Municipality facts come from data/<municipality>.json, never from the template."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from functools import cached_property, lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time, get_day_names
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.welcome_pack.domain import RIGHT_TO_LEFT, SUPPORTED_LANGUAGES, LetterSection
from shared.events import NewcomerArrived
from shared.i18n import translations
from shared.municipality import load_municipality_file

HERE = Path(__file__).parent
LOCALES = HERE / "locales"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=16)
def _translations(language: str) -> Translations:
    return translations(LOCALES, language)


def opening_hours(hours: list[dict], locale: Locale) -> list[str]:
    """[{"days": ["mon","tue","wed"], "opens": "10:00", "closes": "15:00"}] -> ["Monday–Wednesday 10:00–15:00"]."""
    names = get_day_names("wide", locale=locale)
    lines = []
    for row in hours:
        days = [_DAYS.index(d) for d in row["days"]]
        span = names[days[0]] if len(days) == 1 else f"{names[days[0]]}–{names[days[-1]]}"
        opens, closes = (format_time(time.fromisoformat(row[k]), format="short", locale=locale)
                         for k in ("opens", "closes"))
        lines.append(f"{span} {opens}–{closes}")
    return lines


@lru_cache(maxsize=1024)
def _long_date(day: date, language: str) -> str:
    return format_date(day, format="long", locale=Locale.parse(language))


class LetterRenderer:
    def __init__(self, municipality: str):
        self.town = load_municipality_file(HERE, municipality)
        self._environments: dict[str, Environment] = {}
        # The same for every letter in a language: formatted once (Babel's formatting was ~4 % of a consumer's time).
        self._opening_hours: dict[str, list[str]] = {}
        for language in SUPPORTED_LANGUAGES:  # fail at start-up, not on the first letter
            self._environment(language)
            self._opening_hours[language] = opening_hours(self.town["borgerservice"]["opening_hours"],
                                                          Locale.parse(language))

    def _environment(self, language: str) -> Environment:
        if language not in self._environments:
            # Autoescape: every value from a registration is shown as text, never as markup.
            env = Environment(
                loader=FileSystemLoader(HERE / "templates"),
                autoescape=select_autoescape(["html"]),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(_translations(language), newstyle=True)  # type: ignore[attr-defined]
            self._environments[language] = env
        return self._environments[language]

    def render_html(self, arrival: NewcomerArrived, language: str, sections: list[LetterSection],
                    issued_on: date) -> str:
        return self._environment(language).get_template("letter.html").render(
            language=language,
            direction="rtl" if language in RIGHT_TO_LEFT else "ltr",
            town=self.town,
            newcomer=arrival.newcomer,
            household=arrival.household,
            sections=[s.value for s in sections],
            issued_on=_long_date(issued_on, language),
            opening_hours=self._opening_hours[language],
        )

    @property
    def municipality_name(self) -> str:
        return str(self.town["name"])

    def gettext(self, language: str) -> Callable[[str], str]:
        return _translations(language).gettext

    def mail_footer(self, language: str, town: str, link: str) -> str:
        return self._environment(language).get_template("mail_footer.html").render(
            language=language, direction="rtl" if language in RIGHT_TO_LEFT else "ltr", town=town, link=link)

    def page(self, template: str, language: str, **values: object) -> str:
        """A page for the family (unsubscribing), in its language."""
        return self._environment(language).get_template(template).render(
            language=language, direction="rtl" if language in RIGHT_TO_LEFT else "ltr", town=self.municipality_name,
            **values)

    @cached_property
    def _font_config(self):  # weasyprint type
        from weasyprint.text.fonts import FontConfiguration

        return FontConfiguration()

    def render_pdf(self, html: str) -> bytes:
        """PDF with embedded (subset) Noto fonts: Arabic shaped right-to-left by Pango/HarfBuzz, CJK real glyphs."""
        from weasyprint import HTML  # imported here: only PDF rendering needs Pango

        return HTML(string=html, base_url=str(HERE)).write_pdf(font_config=self._font_config)
