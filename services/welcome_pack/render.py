"""Renders welcome letters: one Jinja2 template, gettext catalogs per language, Babel for dates and times,
WeasyPrint for PDF. Municipality facts come from data/<municipality>.json, never from the template."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from functools import cached_property, lru_cache
from pathlib import Path

import segno
from babel import Locale
from babel.dates import format_date, format_time, get_day_names
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from services.welcome_pack.domain import RIGHT_TO_LEFT, SUPPORTED_LANGUAGES, LetterSection, PlanRules
from shared.events import NewcomerArrived
from shared.i18n import translations
from shared.municipality import load_municipality_file

HERE = Path(__file__).parent
LOCALES = HERE / "locales"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Where a stored letter gets its sign-in block when it is shown (the code is never stored in the letter).
SIGN_IN_MARKER = Markup("<!--velkommen:sign-in-->")


def ltr(value: object) -> Markup:
    """A Latin run (link, phone number, address, e-mail, digits) kept left-to-right inside right-to-left text:
    without it `https://` prints as `//:https` and `+45 96 28 28 28` as `28 28 28 96 45+` in Arabic."""
    return Markup('<bdi dir="ltr">%s</bdi>') % value


def isolate(value: object) -> Markup:
    """A name or other text of unknown script, isolated (its own direction, from its first letter)."""
    return Markup("<bdi>%s</bdi>") % value


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def qr_data_uri(url: str) -> str:
    return str(segno.make(url, error="m").svg_data_uri(scale=4, border=2))


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
            env.filters.update(ltr=ltr, isolate=isolate)
            self._environments[language] = env
        return self._environments[language]

    def render_html(self, arrival: NewcomerArrived, language: str, sections: list[LetterSection],
                    issued_on: date) -> str:
        return self._environment(language).get_template("letter.html").render(
            language=language,
            direction=direction(language),
            town=self.town,
            newcomer=arrival.newcomer,
            household=arrival.household,
            sections=[s.value for s in sections],
            issued_on=_long_date(issued_on, language),
            opening_hours=self._opening_hours[language],
            sign_in=SIGN_IN_MARKER,
        )

    def with_sign_in(self, html: str, language: str, url: str | None) -> str:
        """The stored letter with the family's current sign-in link and its QR code (none: the block is left out)."""
        block = "" if url is None else self._environment(language).get_template("sign_in_block.html").render(
            url=url, qr=qr_data_uri(url))
        return html.replace(SIGN_IN_MARKER, block, 1)

    def opening_hours_of(self, language: str) -> list[str]:
        return self._opening_hours[language]

    def plan_rules(self) -> PlanRules:
        facts = {k: v for k, v in self.town.get("plan", {}).items() if not k.startswith("_")}
        return PlanRules.model_validate(facts)

    @property
    def municipality_name(self) -> str:
        return str(self.town["name"])

    def gettext(self, language: str) -> Callable[[str], str]:
        return _translations(language).gettext

    def mail_footer(self, language: str, town: str, link: str) -> str:
        return self._environment(language).get_template("mail_footer.html").render(
            language=language, direction=direction(language), town=town, link=link)

    def mail_html(self, language: str, subject: str, body: Markup, unsubscribe_link: str) -> str:
        """The HTML part of a family mail other than the letter: heading, body, the unsubscribe footer."""
        return (Markup('<!doctype html><html lang="%s" dir="%s"><head><meta charset="utf-8"></head><body>'
                       "<h1>%s</h1>") % (language, direction(language), subject)
                + body + Markup(self.mail_footer(language, self.municipality_name, unsubscribe_link))
                + Markup("</body></html>"))

    def page(self, template: str, language: str, **values: object) -> str:
        """A page for the family (unsubscribing), in its language."""
        return self._environment(language).get_template(template).render(
            language=language, direction=direction(language), town=self.municipality_name,
            **values)

    @cached_property
    def _font_config(self):  # weasyprint type
        from weasyprint.text.fonts import FontConfiguration

        return FontConfiguration()

    def render_pdf(self, html: str) -> bytes:
        """PDF with embedded (subset) Noto fonts: Arabic shaped right-to-left by Pango/HarfBuzz, CJK real glyphs."""
        from weasyprint import HTML  # imported here: only PDF rendering needs Pango

        return HTML(string=html, base_url=str(HERE)).write_pdf(font_config=self._font_config)
