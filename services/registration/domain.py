"""Pure rules of registration: case identity, idempotency fingerprints, CPR handling, the case timeline. No I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import BaseModel

from shared.events import EventEnvelope, JobLeadStatusChanged, SchoolIntakeStatusChanged, WelcomeLetterGenerated

# Namespace for case ids derived from an Idempotency-Key: the same key always names the same case.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d7c1e-2b1a-4a53-9a59-8f4f1f6c0a11")
_CPR = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$")


def case_id_for(idempotency_key: str | None) -> uuid.UUID:
    """A retried POST with the same key names the same case, so the retry cannot create a second one."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, idempotency_key)


def request_fingerprint(canonical_json: bytes) -> str:
    return hashlib.sha256(canonical_json).hexdigest()


def normalise_cpr(value: str) -> str:
    """Return a CPR number as DDMMYY-SSSS, or raise ValueError saying what is wrong.

    Only the date part is checked: numbers issued since 2007 need not satisfy the old modulus-11 rule.
    """
    match = _CPR.match(value.strip())
    if not match:
        raise ValueError("CPR number must look like DDMMYY-SSSS")
    day, month, year, serial = match.groups()
    try:
        date(2000 + int(year), int(month), int(day))  # century does not matter for validity, except 29 Feb
    except ValueError:
        try:
            date(1900 + int(year), int(month), int(day))
        except ValueError:
            raise ValueError("CPR number does not start with a valid date (DDMMYY)") from None
    return f"{day}{month}{year}-{serial}"


def mask_cpr(cpr: str | None) -> str | None:
    """Shown where the full number is not needed: the birth date part only."""
    return None if cpr is None else f"{cpr[:6]}-****"


# ------------------------------------------------------------------------------------------------ timeline
# What happened downstream of a case, learnt from the other services' events (never by calling them).

class TimelineEntry(BaseModel):
    event_id: uuid.UUID
    case_id: uuid.UUID
    at: datetime
    source: str            # the service that published the event
    kind: str              # "letter" | "intake_task" | "job_lead"
    record_id: str         # letter, task or lead id in the source service
    status: str
    previous_status: str | None = None
    detail: dict[str, str | None] = {}


def timeline_entry(event: EventEnvelope) -> TimelineEntry:
    """One timeline line from a WelcomeLetterGenerated, SchoolIntakeStatusChanged or JobLeadStatusChanged."""
    p = event.payload
    common = {"event_id": event.event_id, "case_id": p.case_id, "source": event.producer}
    if isinstance(p, WelcomeLetterGenerated):
        return TimelineEntry(**common, at=event.occurred_at, kind="letter", record_id=str(p.letter_id),
                             status="generated", detail={"language": p.language})
    if isinstance(p, SchoolIntakeStatusChanged):
        return TimelineEntry(**common, at=p.changed_at, kind="intake_task", record_id=str(p.task_id), status=p.status,
                             previous_status=p.previous_status,
                             detail={"task_kind": p.kind, "unit_id": p.unit_id, "unit_name": p.unit_name,
                                     "reason": p.reason, "changed_by": p.changed_by})
    if isinstance(p, JobLeadStatusChanged):
        return TimelineEntry(**common, at=p.changed_at, kind="job_lead", record_id=str(p.lead_id), status=p.status,
                             previous_status=p.previous_status,
                             detail={"listing_id": p.listing_id, "reason": p.reason, "changed_by": p.changed_by})
    raise TypeError(f"no timeline entry for {type(p).__name__}")


@dataclass(frozen=True)
class CaseProgress:
    """Where a case stands downstream: the latest state of every letter, intake task and job lead."""

    letters: list[TimelineEntry]
    intake_tasks: list[TimelineEntry]
    job_leads_by_status: dict[str, int]

    @property
    def job_leads(self) -> int:
        return sum(self.job_leads_by_status.values())


def case_progress(entries: list[TimelineEntry]) -> CaseProgress:
    latest: dict[tuple[str, str], TimelineEntry] = {}
    for entry in sorted(entries, key=lambda e: e.at):
        latest[(entry.kind, entry.record_id)] = entry
    by_kind: dict[str, list[TimelineEntry]] = {"letter": [], "intake_task": [], "job_lead": []}
    for entry in latest.values():
        by_kind[entry.kind].append(entry)
    leads: dict[str, int] = {}
    for lead in by_kind["job_lead"]:
        leads[lead.status] = leads.get(lead.status, 0) + 1
    return CaseProgress(letters=by_kind["letter"], intake_tasks=by_kind["intake_task"],
                        job_leads_by_status=dict(sorted(leads.items())))
