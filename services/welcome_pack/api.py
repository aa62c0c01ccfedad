"""HTTP endpoints of the welcome pack: a case's letters, one letter as HTML or PDF, in any supported language."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from services.welcome_pack.domain import SUPPORTED_LANGUAGES, LetterSection
from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.schemas import LetterSummary
from services.welcome_pack.store import LetterStore, arrival_of
from shared.audit import AuditAction, AuditDep
from shared.auth import Principal, Role, require
from shared.web import from_state

router = APIRouter(tags=["letters"])


StoreDep = Annotated[LetterStore, Depends(from_state("store"))]
RendererDep = Annotated[LetterRenderer, Depends(from_state("renderer"))]
# The letter is handed to the newcomer by Borgerservice; schools and the Jobcenter have no need to read it.
Borgerservice = Annotated[Principal, Depends(require(Role.BORGERSERVICE))]
LETTER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
Lang = Annotated[str | None, Query(description=f"one of {', '.join(SUPPORTED_LANGUAGES)}; default: the letter's own")]


def _language(lang: str | None, letter: dict[str, Any]) -> str:
    if lang is None:
        return letter["language"]
    if lang not in SUPPORTED_LANGUAGES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"unsupported language {lang!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}")
    return lang


async def read_letter(store: LetterStore, letter_id: uuid.UUID, user: Principal, audit: AuditDep,
                      what: str, channel: str = "api") -> dict[str, Any]:
    letter = await store.get_letter(str(letter_id))
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No letter with this id.")
    await audit.record(user, AuditAction.READ, what, case_ids=[letter["case_id"]], record_ids=[letter["_id"]],
                       channel=channel)
    return letter


def letter_html_in(renderer: LetterRenderer, letter: dict[str, Any], language: str, sign_in_url: str | None) -> str:
    """A stored letter in `language`, with the sign-in link when one is given. It is rendered from what its
    document keeps (the arrival, the sections and the day it was issued), not stored as HTML: 7.6 KB a letter,
    and the consumer's rendering of every letter when it arrived, for a letter read a few times (#16). One stored
    with its HTML by an earlier version shows that HTML in its own language."""
    if language == letter["language"] and "html" in letter:
        html = str(letter["html"])
    else:
        issued = date.fromisoformat(letter.get("issued_on") or letter["created_at"].date().isoformat())
        html = renderer.render_html(arrival_of(letter), language, [LetterSection(s) for s in letter["sections"]],
                                    issued)
    return renderer.with_sign_in(html, language, sign_in_url)


async def _html(request: Request, letter: dict[str, Any], language: str) -> str:
    """What Borgerservice prints: the letter with the family's current sign-in link."""
    state = request.app.state
    url = await state.access.sign_in_url(letter["case_id"], datetime.now(UTC))
    return letter_html_in(state.renderer, letter, language, url)


@router.get("/letters", response_model=list[LetterSummary])
async def letters_of_case(case_id: uuid.UUID, user: Borgerservice, store: StoreDep,
                          audit: AuditDep) -> list[LetterSummary]:
    await audit.record(user, AuditAction.READ, "letter list", case_ids=[str(case_id)])
    return [
        LetterSummary(
            letter_id=doc["_id"], case_id=doc["case_id"], language=doc["language"],
            sections=doc["sections"], created_at=doc["created_at"],
        )
        for doc in await store.letters_of_case(str(case_id))
    ]


@router.get("/letters/{letter_id}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def letter_pdf(letter_id: uuid.UUID, request: Request, user: Borgerservice, store: StoreDep,
                     renderer: RendererDep, audit: AuditDep, lang: Lang = None) -> Response:
    letter = await read_letter(store, letter_id, user, audit, "letter pdf")
    language = _language(lang, letter)
    # WeasyPrint is CPU-bound and synchronous: render off the event loop.
    pdf = await asyncio.to_thread(renderer.render_pdf, await _html(request, letter, language))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="welcome-{language}.pdf"'})


@router.get("/letters/{letter_id}", response_class=HTMLResponse)
async def letter_html(letter_id: uuid.UUID, request: Request, user: Borgerservice, store: StoreDep,
                      renderer: RendererDep,
                      audit: AuditDep, lang: Lang = None) -> HTMLResponse:
    letter = await read_letter(store, letter_id, user, audit, "letter")
    # The letter is a standalone document with its own <style>; it runs no script and loads nothing.
    return HTMLResponse(await _html(request, letter, _language(lang, letter)),
                        headers={"Content-Security-Policy": LETTER_CSP})
