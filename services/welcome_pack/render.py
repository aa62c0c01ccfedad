"""Renders welcome letters from the Jinja2 templates and the municipality's data file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.welcome_pack.domain import LetterSection
from shared.events import NewcomerArrived
from shared.municipality import load_municipality_file

HERE = Path(__file__).parent


class LetterRenderer:
    def __init__(self, municipality: str):
        self.town = load_municipality_file(HERE, municipality)
        # Autoescape: every value from a registration is shown as text, never as markup.
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )

    def render_html(self, arrival: NewcomerArrived, language: str, sections: list[LetterSection], issued_on: date) -> str:
        template = self.env.get_template(f"letter_{language}.html")
        return template.render(
            town=self.town,
            newcomer=arrival.newcomer,
            household=arrival.household,
            sections=[s.value for s in sections],
            issued_on=issued_on.isoformat(),
        )
