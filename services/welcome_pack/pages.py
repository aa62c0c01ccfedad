"""Borgerservice's letter page: preview a newcomer's welcome letter in any supported language, download the PDF."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.welcome_pack.api import Borgerservice, Lang, StoreDep, _language, read_letter
from services.welcome_pack.domain import SUPPORTED_LANGUAGES
from services.welcome_pack.family_mail import valid_unsubscribe
from shared.audit import AuditDep
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

LANGUAGE_NAMES = {"da": "Dansk", "en": "English", "de": "Deutsch", "zh": "中文", "ar": "العربية", "ru": "Русский",
                  "es": "Español", "fr": "Français"}


@router.get("/unsubscribe/{case_id}/{mac}")
async def unsubscribe_page(case_id: uuid.UUID, mac: str, request: Request) -> Response:
    """The family's unsubscribe link (no sign-in): asks once, in the family's language."""
    return await _unsubscribe(request, str(case_id), mac, act=False)


@router.post("/unsubscribe/{case_id}/{mac}")
async def unsubscribe(case_id: uuid.UUID, mac: str, request: Request) -> Response:
    """Withdraws the consent: pending family mails are dropped, none is sent after (also RFC 8058 one-click)."""
    return await _unsubscribe(request, str(case_id), mac, act=True)


async def _unsubscribe(request: Request, case_id: str, mac: str, *, act: bool) -> Response:
    state = request.app.state
    contact = await state.store.contact(case_id)
    language = contact["language"] if contact else "en"
    if contact is None or not valid_unsubscribe(case_id, mac, state.settings):
        # The same answer whether the case is unknown or the link forged.
        return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="invalid"), status_code=404)
    if not act:
        return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="ask"))
    await state.store.withdraw_consent(case_id, datetime.now(UTC))
    await state.notifications.drop_case(case_id)
    return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="done"))


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
