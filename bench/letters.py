"""Welcome letter rendering benchmark (a script, not a test): HTML letters/s and PDF letters/s per language.

    .venv/bin/python -m bench.letters [--seconds 3]

Rendering only (no database): one process, one core, the family of tests/builders.py (spouse, two children).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from bench.common import machine
from services.welcome_pack.domain import SUPPORTED_LANGUAGES, letter_sections
from services.welcome_pack.render import LetterRenderer
from tests.builders import arrival, registration


def rate(action, seconds: float) -> float:
    action()  # warm-up (template compile, font loading)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--languages", default=",".join(SUPPORTED_LANGUAGES))
    args = parser.parse_args()
    renderer = LetterRenderer("herning")
    print(f"machine: {machine()}")
    print(f"{'language':>8} {'HTML/s':>8} {'PDF/s':>7}")
    for language in args.languages.split(","):
        letter = arrival(registration(preferred_language=language))
        sections = letter_sections(letter)
        html = renderer.render_html(letter, language, sections, letter.newcomer.arrival_date)
        html_rate = rate(partial(renderer.render_html, letter, language, sections, letter.newcomer.arrival_date),
                         args.seconds)
        pdf_rate = rate(partial(renderer.render_pdf, html), args.seconds)
        print(f"{language:>8} {html_rate:>8.0f} {pdf_rate:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
