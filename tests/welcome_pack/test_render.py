"""Letters in eight languages, as HTML and PDF (WeasyPrint, Noto fonts), checked through the PDF's own text."""

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from pypdf import PdfReader

from services.welcome_pack import domain
from services.welcome_pack.render import LOCALES, LetterRenderer
from tests.builders import arrival, registration

HERE = Path(domain.__file__).parent
LANGUAGES = domain.SUPPORTED_LANGUAGES


@pytest.fixture(scope="module")
def renderer():
    return LetterRenderer("herning")


def catalog(language):
    with open(LOCALES / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def template_message_ids():
    """Every message of the templates and of the service's Python code (the mails' plain-text parts: `_()`)."""
    found = extract_from_dir(str(HERE), method_map=[("templates/**.html", "jinja2"), ("*.py", "python")],
                             options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}})
    return {message for _, _, message, _, _ in found}


def pdf_text_and_fonts(pdf: bytes):
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # lines wrap anywhere
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return text, fonts


def render(renderer, language, body=None):
    letter = arrival(body or registration(preferred_language=language))
    sections = domain.letter_sections(letter)
    html = renderer.render_html(letter, language, sections, letter.newcomer.arrival_date)
    return html, renderer.render_pdf(html)


def test_every_message_of_the_template_is_translated_in_all_eight_catalogs():
    wanted = template_message_ids()
    assert len(wanted) >= 40
    for language in LANGUAGES:
        messages = {m.id: m for m in catalog(language) if m.id}
        assert set(messages) == wanted, f"{language}: catalog out of date with the template"
        for message_id, message in messages.items():
            assert message.string.strip(), f"{language}: untranslated {message_id!r}"
            assert not message.fuzzy, f"{language}: fuzzy {message_id!r}"
            assert sorted(re.findall(r"%\((\w+)\)s", message.string)) == sorted(re.findall(r"%\((\w+)\)s", message_id))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pdf_in_each_language_has_the_name_and_that_languages_own_text(renderer, language):
    html, pdf = render(renderer, language)
    text, fonts = pdf_text_and_fonts(pdf)
    assert pdf.startswith(b"%PDF")
    assert "Amira Haddad" in text
    heading = catalog(language).get("Tax card").string
    others = {catalog(other).get("Tax card").string for other in LANGUAGES if other != language}
    assert heading not in others  # a phrase only this language's catalog has
    if language == "ar":
        # Right-to-left text comes out of the PDF word by word in visual order: look for each word.
        assert all(word in text for word in heading.split())
        assert any("Arabic" in font for font in fonts), fonts
        assert '<html lang="ar" dir="rtl">' in html
    else:
        assert heading in text
        assert f'<html lang="{language}" dir="ltr">' in html
    if language == "zh":
        assert any("CJK" in font for font in fonts), fonts


def test_dates_and_opening_hours_are_formatted_for_the_language(renderer):
    # A fixed day (the builders' arrival moves with today): the letter is dated by the arrival.
    da, en, de = (render(renderer, language, registration(preferred_language=language, arrival_date="2026-11-02"))[0]
                  for language in ("da", "en", "de"))
    assert "2. november 2026" in da and "November 2, 2026" in en and "2. November 2026" in de
    assert "mandag–onsdag 10.00–15.00" in da
    assert "Monday–Wednesday 10:00" in en


def test_a_name_with_markup_is_shown_as_text_in_html_and_pdf(renderer):
    body = registration(full_name="<script>alert(1)</script>")
    html, pdf = render(renderer, "en", body)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text, _ = pdf_text_and_fonts(pdf)
    assert "<script>alert(1)</" in text  # printed as the characters it is (the PDF wraps after "</")


@pytest.mark.parametrize(
    ("body", "present", "absent"),
    [
        (registration(with_spouse=False, children=[]), ["Free Danish lessons"], ["Daycare", "School", "partner"]),
        (registration(with_spouse=False), ["Daycare", "School"], ["Help finding work"]),
        (registration(children=[]), ["Help finding work for your partner", "Jonas Weber"], ["Daycare"]),
        (registration(with_spouse=False, children=[], purpose_of_stay="study"), ["Studying in"], ["integration"]),
        (registration(with_spouse=False, children=[], purpose_of_stay="refugee"), ["Your integration programme"],
         ["Studying in"]),
        (registration(with_spouse=False, children=[], purpose_of_stay="eu_eea_citizen"),
         ["EU registration certificate", "then CPR number"], ["residence permit"]),
    ],
)
def test_household_variants_get_the_sections_that_fit(renderer, body, present, absent):
    letter = arrival(body)
    html = renderer.render_html(letter, "en", domain.letter_sections(letter), letter.newcomer.arrival_date)
    for phrase in present:
        assert phrase in html
    for phrase in absent:
        assert phrase not in html
