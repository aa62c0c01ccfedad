"""HTTP endpoints of the welcome pack: a case's letters, and one letter as HTML."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from services.welcome_pack.schemas import LetterSummary
from services.welcome_pack.store import LetterStore

router = APIRouter(tags=["letters"])


def get_store(request: Request) -> LetterStore:
    return request.app.state.store


StoreDep = Annotated[LetterStore, Depends(get_store)]


@router.get("/letters", response_model=list[LetterSummary])
async def letters_of_case(case_id: uuid.UUID, store: StoreDep) -> list[LetterSummary]:
    return [
        LetterSummary(
            letter_id=doc["_id"], case_id=doc["case_id"], language=doc["language"],
            sections=doc["sections"], created_at=doc["created_at"],
        )
        for doc in await store.letters_of_case(str(case_id))
    ]


@router.get("/letters/{letter_id}", response_class=HTMLResponse)
async def letter_html(letter_id: uuid.UUID, store: StoreDep) -> HTMLResponse:
    letter = await store.get_letter(str(letter_id))
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No letter with this id.")
    return HTMLResponse(letter["html"])
