"""The Jobcenter adviser's lead board: each spouse's facts and ranked leads with why, and the lead actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.job_match import workflow
from services.job_match.api import Adviser, SettingsDep, StoreDep, move_lead
from services.job_match.domain import LEAD_WORKFLOW, LeadStatus
from services.job_match.schemas import LeadTransitionRequest
from services.job_match.vocabulary import skill_name
from shared.audit import AuditAction, AuditDep
from shared.pages import language
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

ACTION_LABELS = {
    "contacted": ("Kontaktet", "Contacted"),
    "applied": ("Har søgt", "Applied"),
    "hired": ("Ansat", "Hired"),
    "not_relevant": ("Ikke relevant", "Not relevant"),
}


# "All leads" are the open ones and those finished in these last weeks (not every lead the Jobcenter ever had).
FINISHED_SHOWN = timedelta(days=30)


@router.get("/")
async def lead_board(request: Request, user: Adviser, store: StoreDep, pages: PagesDep, audit: AuditDep,
                     show: str = "open") -> Response:
    leads = await store.lead_board(LEAD_WORKFLOW.open_statuses(), None)
    if show == "all":
        leads += await store.finished_since(LEAD_WORKFLOW.final_statuses(), datetime.now(UTC) - FINISHED_SHOWN)
    spouses = await store.spouses_of(sorted({lead["case_id"] for lead in leads}))
    by_case: dict[str, list[dict]] = {}
    for lead in sorted(leads, key=lambda lead: -lead["score"]):
        by_case.setdefault(lead["case_id"], []).append(lead)
    await audit.record(user, AuditAction.READ, "lead board", case_ids=by_case, channel="page")
    lang = language(request)
    return pages.render(request, "board.html", by_case=by_case, spouses=spouses, show=show,
                        skills=lambda names: ", ".join(skill_name(n, lang) for n in names),
                        next_statuses=lambda lead: LEAD_WORKFLOW.next_statuses(LeadStatus(lead["status"])),
                        action_labels=ACTION_LABELS)


@router.post("/leads/{lead_id}/move")
async def move_from_page(lead_id: uuid.UUID, user: Adviser, store: StoreDep, settings: SettingsDep, audit: AuditDep,
                         to: Annotated[str, Form()],
                         reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        body = LeadTransitionRequest(to=to, reason=reason.strip() or None)
    except ValidationError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "Unknown action.") from None
    lead = await move_lead(user, lead_id, body, store=store, settings=settings, audit=audit,
                           channel="page")
    return RedirectResponse(f"/#case-{lead['case_id']}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/leads/{lead_id}/notes/new")
async def note_from_page(lead_id: uuid.UUID, user: Adviser, store: StoreDep, audit: AuditDep,
                         text: Annotated[str, Form(min_length=1, max_length=4000)]) -> Response:
    try:
        lead = await workflow.add_note(store, str(lead_id), user.name, text.strip())
    except workflow.LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No lead with this id.") from None
    await audit.record(user, AuditAction.CHANGE, "job lead note", case_ids=[lead["case_id"]],
                       record_ids=[lead["_id"]], channel="page")
    return RedirectResponse(f"/#lead-{lead_id}", status_code=status.HTTP_303_SEE_OTHER)
