"""HTTP endpoints of the job match: listing import, a spouse's leads, the lead board and its workflow."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from services.job_match import listings as listing_files
from services.job_match import workflow
from services.job_match.domain import LEAD_WORKFLOW, LeadStatus
from services.job_match.importing import ImportReport, import_listings
from services.job_match.schemas import LeadNoteRequest, LeadPublic, LeadTransitionRequest
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from shared.audit import AuditAction, AuditDep
from shared.auth import Principal, Role, require
from shared.web import from_state

router = APIRouter()
MAX_IMPORT_BYTES = 50 * 1024 * 1024


StoreDep = Annotated[JobStore, Depends(from_state("store"))]
SettingsDep = Annotated[JobMatchSettings, Depends(from_state("settings"))]
Adviser = Annotated[Principal, Depends(require(Role.JOBCENTER_ADVISER))]
ListingManager = Annotated[Principal, Depends(require(Role.JOBCENTER_ADVISER, Role.ADMIN))]


@router.post("/listings/import", response_model=ImportReport, tags=["listings"],
             openapi_extra={"requestBody": {"content": {"application/json": {}, "text/csv": {}}, "required": True}})
async def import_listing_file(request: Request, user: ListingManager, store: StoreDep,
                              settings: SettingsDep) -> ImportReport:
    """Import a Jobnet-style export as JSON (a list, or {"listings": [...]}) or CSV (header row, ';' lists).

    Good rows are imported even when others are bad; each bad row is reported with its line and reason.
    """
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"at most {MAX_IMPORT_BYTES} bytes per import")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the file must be UTF-8 text") from None
    if content_type == "application/json":
        parsed, errors = listing_files.parse_json(text)
    elif content_type in ("text/csv", "application/csv"):
        parsed, errors = listing_files.parse_csv(text)
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/json or text/csv")
    report = await import_listings(store, settings, request.app.state.listing_index, parsed, errors)
    return report


@router.get("/leads", response_model=list[LeadPublic], tags=["leads"])
async def leads(
    user: Adviser,
    store: StoreDep,
    audit: AuditDep,
    case_id: uuid.UUID | None = None,
    status_filter: Annotated[LeadStatus | None, Query(alias="status")] = None,
    adviser: Annotated[str | None, Query(max_length=100)] = None,
) -> list[LeadPublic]:
    """A spouse's leads (case_id), or the lead board: the open leads (or those in `status`), by adviser."""
    if case_id is not None:
        docs = await store.leads_of_case(str(case_id))
    else:
        statuses = [status_filter.value] if status_filter else LEAD_WORKFLOW.open_statuses()
        docs = await store.lead_board(statuses, adviser, limit=500)
    await audit.record(user, AuditAction.READ, "job leads", case_ids=[d["case_id"] for d in docs])
    return [LeadPublic.from_document(d) for d in docs]


@router.post("/leads/{lead_id}/transitions", response_model=LeadPublic, tags=["leads"])
async def transition_lead(lead_id: uuid.UUID, body: LeadTransitionRequest, user: Adviser, store: StoreDep,
                          settings: SettingsDep, audit: AuditDep) -> LeadPublic:
    lead = await move_lead(user, lead_id, body, store=store, settings=settings, audit=audit,
                           channel="api")
    return LeadPublic.from_document(lead)


async def move_lead(user: Principal, lead_id: uuid.UUID, body: LeadTransitionRequest, *, store: JobStore,
                    settings: JobMatchSettings, audit: AuditDep, channel: str) -> dict:
    """One lead transition by an adviser (API and pages), audited."""
    try:
        lead = await workflow.transition(store, settings, str(lead_id), body.to, user.name, body.reason)
    except workflow.LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No lead with this id.") from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    await audit.record(user, AuditAction.CHANGE, f"job lead -> {body.to.value}", case_ids=[lead["case_id"]],
                       record_ids=[lead["_id"]], channel=channel)
    return lead


@router.post("/leads/{lead_id}/notes", response_model=LeadPublic, tags=["leads"])
async def add_note(lead_id: uuid.UUID, body: LeadNoteRequest, user: Adviser, store: StoreDep,
                   audit: AuditDep) -> LeadPublic:
    try:
        lead = await workflow.add_note(store, str(lead_id), user.name, body.text)
    except workflow.LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No lead with this id.") from None
    await audit.record(user, AuditAction.CHANGE, "job lead note", case_ids=[lead["case_id"]], record_ids=[lead["_id"]])
    return LeadPublic.from_document(lead)
