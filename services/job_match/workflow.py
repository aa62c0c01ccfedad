"""The adviser's lead workflow: status changes and notes, each stored with who/when and published."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from services.job_match.domain import LEAD_WORKFLOW, LeadStatus, family_choice_moves
from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from shared.concurrency import ChangedMeanwhile
from shared.events import JOB_LEAD_STATUS_CHANGED, JOB_LEADS_FOUND, FoundLead, JobLeadsFound, JobLeadStatusChanged
from shared.outbox import outbox_entry, outbox_update


class LeadNotFound(Exception):
    pass


def _status_event(settings: JobMatchSettings, lead: dict[str, Any], to: LeadStatus, by: str, reason: str | None,
                  at: datetime, previous: str | None) -> dict[str, Any]:
    case_id = uuid.UUID(lead["case_id"])
    envelope = JOB_LEAD_STATUS_CHANGED.envelope(
        JobLeadStatusChanged(case_id=case_id, lead_id=uuid.UUID(lead["_id"]), listing_id=lead["listing_id"],
                             status=to.value, previous_status=previous, reason=reason, changed_by=by,
                             changed_at=at),
        producer=settings.service_name, correlation_id=case_id,
    )
    return outbox_entry(settings.topic(JOB_LEAD_STATUS_CHANGED.topic), lead["case_id"], envelope)


def leads_found_event(settings: JobMatchSettings, case_id: str, leads: list[dict[str, Any]],
                      at: datetime) -> dict[str, Any]:
    """The event announcing a spouse's new leads (one for all of them): it puts them on the case timeline."""
    case = uuid.UUID(case_id)
    envelope = JOB_LEADS_FOUND.envelope(
        JobLeadsFound(case_id=case, found_at=at,
                      leads=[FoundLead(lead_id=uuid.UUID(d["_id"]), listing_id=d["listing_id"]) for d in leads]),
        producer=settings.service_name, correlation_id=case,
    )
    return outbox_entry(settings.topic(JOB_LEADS_FOUND.topic), case_id, envelope)


def _move(settings: JobMatchSettings, lead: dict[str, Any], to: LeadStatus, by: str, reason: str | None,
          at: datetime) -> dict[str, Any]:
    """The update that moves the lead and owes its JobLeadStatusChanged (one write)."""
    update = outbox_update([_status_event(settings, lead, to, by, reason, at, previous=lead["status"])])
    update["$set"].update({"status": to.value, "updated_at": at})
    update["$push"] = {"history": {"status": to.value, "at": at, "by": by, "reason": reason}}
    return update


async def transition(store: JobStore, settings: JobMatchSettings, lead_id: str, to: LeadStatus, by: str,
                     reason: str | None) -> dict[str, Any]:
    lead = await store.get_lead(lead_id)
    if lead is None:
        raise LeadNotFound(lead_id)
    LEAD_WORKFLOW.check(LeadStatus(lead["status"]), to)
    if to is LeadStatus.NOT_RELEVANT and not reason:
        raise ValueError("a reason is required for not_relevant")
    update = _move(settings, lead, to, by, reason, datetime.now(UTC))
    if not lead.get("adviser"):
        update["$set"]["adviser"] = by  # the first adviser to act on a lead owns it on the board
    if not await store.change_lead(lead, by, update):
        raise ChangedMeanwhile("the lead")
    return await _reread(store, lead_id)


FAMILY = "family"  # who moved a lead by the family's job-help choice (no person's name: the case is the link)


async def follow_family_choice(store: JobStore, settings: JobMatchSettings, lead: dict[str, Any],
                               wants_job_help: bool, at: datetime, tries: int = 5) -> bool:
    """Withdraw the lead (job help turned off) or reopen it (turned on) where the choice moves it, in the lead's
    turn; an adviser's change at the same moment is read again and the choice applied to what it left. True if
    the lead moved."""
    for _ in range(tries):
        to = family_choice_moves(LeadStatus(lead["status"]), wants_job_help)
        if to is None:
            return False
        if await store.change_lead(lead, FAMILY, _move(settings, lead, to, FAMILY, None, at)):
            return True
        reread = await store.get_lead(lead["_id"])
        if reread is None:
            return False  # erased meanwhile
        lead = reread
    raise ChangedMeanwhile("the lead")


async def add_note(store: JobStore, lead_id: str, by: str, text: str) -> dict[str, Any]:
    lead = await store.get_lead(lead_id)
    if lead is None:
        raise LeadNotFound(lead_id)
    note = {"by": by, "at": datetime.now(UTC), "text": text}
    if not await store.change_lead(lead, by, {"$push": {"notes": note}}):
        raise ChangedMeanwhile("the lead")
    return await _reread(store, lead_id)


async def _reread(store: JobStore, lead_id: str) -> dict[str, Any]:
    """The lead as changed; gone only if the case was erased in the meantime."""
    lead = await store.get_lead(lead_id)
    if lead is None:
        raise LeadNotFound(lead_id)
    return lead
