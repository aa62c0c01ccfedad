"""Borgerservice's letter page: preview a newcomer's welcome letter in any supported language, download the PDF."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.welcome_pack.api import Borgerservice, Lang, StoreDep, _language, read_letter
from services.welcome_pack.domain import SUPPORTED_LANGUAGES
from shared.audit import AuditDep
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

LANGUAGE_NAMES = {"da": "Dansk", "en": "English", "de": "Deutsch", "zh": "中文", "ar": "العربية", "ru": "Русский",
                  "es": "Español", "fr": "Français"}


@router.get("/")
async def home(request: Request, user: Borgerservice, pages: PagesDep) -> Response:
    return pages.render(request, "letters_home.html", registration_url=pages.settings.registration_url)


@router.get("/letters/{letter_id}/view")
async def letter_page(letter_id: uuid.UUID, request: Request, user: Borgerservice, store: StoreDep, pages: PagesDep,
                      audit: AuditDep, lang: Lang = None) -> Response:
    letter = await read_letter(store, letter_id, user, audit, "letter page", channel="page")
    language = _language(lang, letter)
    return pages.render(request, "letter_page.html", letter=letter, language=language,
                        languages={code: LANGUAGE_NAMES[code] for code in SUPPORTED_LANGUAGES},
                        registration_url=pages.settings.registration_url)
