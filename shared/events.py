"""The event envelope, every event the services exchange, and their topics.

Events are JSON on the wire. The Kafka key is the case id, so one case's events stay in order on one partition.
Topic names carry the version: a breaking change gets a new topic, an added optional field does not.
Personal data in events is kept to what consumers need; a CPR number is never put in an event.
"""

from __future__ import annotations

import builtins
import json
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# ISO 639-1 language code, e.g. "da", "en", "ar".
LanguageCode = Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=r"^[a-z]{2}$")]
# ISO 3166-1 alpha-2 country code, e.g. "DK", "UA".
CountryCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2}$")]


class _RefusesUnknownFields(BaseModel):
    """Unknown fields are refused at every depth (a misspelt `wants_jobhelp` is an error, not a default), except
    in an event of a newer, compatible version: EventSpec.parse drops its added fields (see EventSpec.can_read).
    No validator of ours runs on the way in: a "before" model validator made pydantic build Python objects
    for every nested model of a JSON event and call back into Python for each, twice the parse time."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventModel(_RefusesUnknownFields):
    """Base of event payload parts, also the API's input models (shared.events.Newcomer, Household, ...)."""


class LanguageLevel(StrEnum):
    """CEFR levels, plus native."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"
    NATIVE = "native"

    @property
    def rank(self) -> int:
        return _LANGUAGE_RANK[self]

    def at_least(self, other: LanguageLevel) -> bool:
        return _LANGUAGE_RANK[self] >= _LANGUAGE_RANK[other]


class DanishLevel(StrEnum):
    """How well a child follows teaching in Danish (what the school intake rules need)."""

    NONE = "none"
    BASIC = "basic"
    GOOD = "good"
    NATIVE = "native"


class PurposeOfStay(StrEnum):
    WORK = "work"
    STUDY = "study"
    FAMILY_REUNIFICATION = "family_reunification"
    REFUGEE = "refugee"
    EU_EEA_CITIZEN = "eu_eea_citizen"
    OTHER = "other"


class EducationLevel(StrEnum):
    """Highest completed education, on the ISCED-like ladder job listings use."""

    NONE = "none"
    PRIMARY = "primary"
    UPPER_SECONDARY = "upper_secondary"
    VOCATIONAL = "vocational"
    SHORT_CYCLE = "short_cycle"
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTORATE = "doctorate"

    @property
    def rank(self) -> int:
        return _EDUCATION_RANK[self]


# Looked up for every candidate listing in matching: a dict, not a list search.
_LANGUAGE_RANK = {level: i + 1 for i, level in enumerate(LanguageLevel)}
_EDUCATION_RANK = {level: i for i, level in enumerate(EducationLevel)}


class LanguageSkill(EventModel):
    language: LanguageCode
    level: LanguageLevel


class Address(EventModel):
    street: ShortText
    house_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{1,4}[A-Za-z]?$")]
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4}$")]
    city: ShortText


class Newcomer(EventModel):
    full_name: Name
    date_of_birth: date
    nationality: CountryCode
    preferred_language: LanguageCode
    languages: list[LanguageSkill] = Field(default_factory=list, max_length=20)
    address: Address
    arrival_date: date
    purpose_of_stay: PurposeOfStay
    expected_stay_months: int | None = Field(default=None, ge=1, le=1200)
    # v2: where the family may be written to, and whether it agreed to (welcome_pack mails only with both).
    email: EmailStr | None = None
    contact_consent: bool = False


class Spouse(EventModel):
    full_name: Name
    date_of_birth: date
    highest_education: EducationLevel
    occupation: ShortText | None = None
    skills: list[ShortText] = Field(default_factory=list, max_length=50)
    languages: list[LanguageSkill] = Field(default_factory=list, max_length=20)
    wants_job_help: bool = True


class Child(EventModel):
    full_name: Name
    date_of_birth: date
    languages: list[LanguageCode] = Field(default_factory=list, max_length=10)
    danish_level: DanishLevel = DanishLevel.NONE
    years_of_schooling: int = Field(default=0, ge=0, le=15)


class Household(EventModel):
    spouse: Spouse | None = None
    children: list[Child] = Field(default_factory=list, max_length=20)


# ---------------------------------------------------------------------------------------------- event payloads


class NewcomerArrived(EventModel):
    """Borgerservice registered a newcomer and their household."""

    case_id: uuid.UUID
    municipality: ShortText
    newcomer: Newcomer
    household: Household


class StatusChanged(EventModel):
    """What every workflow-change event says: the new status, the one before, why, who and when."""

    status: str
    previous_status: str | None = None
    reason: str | None = None
    changed_by: str
    changed_at: datetime


class SchoolIntakeStatusChanged(StatusChanged):
    """An intake task was created or moved in its workflow. No child's name: the case id is the link."""

    case_id: uuid.UUID
    task_id: uuid.UUID
    kind: str
    unit_id: str
    unit_name: str
    # v2: which child of the household (its position in the arrival's list): the family's plan ticks that
    # child's step. Not a name, and nothing a reader outside the case could use.
    child_index: int | None = Field(default=None, ge=0, le=19)
    # v2: while waitlisted, the child's place in the line for its grade band (1 = next); re-published when the
    # line moves. While offered, the last day the family may answer.
    waitlist_position: int | None = Field(default=None, ge=1)
    grade_band: tuple[int, int] | None = None
    offer_deadline: date | None = None
    # v2: the school's street address (public, the school's own), shown to the family with its child's place.
    unit_address: str | None = Field(default=None, max_length=300)


class OfferAnswer(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class IntakeOfferAnswered(EventModel):
    """A family answered the reception-class place offered to its child (on its own pages). school_intake
    decides what the answer does (too late, or after staff acted: nothing)."""

    case_id: uuid.UUID
    task_id: uuid.UUID
    answer: OfferAnswer
    answered_at: datetime


class PlanSummary(EventModel):
    """How far a family has come with its plan: counts, and the due dates of the steps still to do, so a reader can
    tell on any day what is overdue. No step names and nothing personal."""

    steps: int = Field(ge=0, le=500)
    done: int = Field(ge=0, le=500)
    not_relevant: int = Field(ge=0, le=500)
    open_due: list[date] = Field(default_factory=list, max_length=500)


class WelcomeLetterGenerated(EventModel):
    """A welcome letter was stored for a case (no content, no names: the case id is the link)."""

    case_id: uuid.UUID
    letter_id: uuid.UUID
    language: LanguageCode
    sections: list[str] = Field(default_factory=list)
    # v2: the family's plan as it starts (nothing done yet); FamilyPlanProgressed reports it from then on.
    plan: PlanSummary | None = None


class FamilyPlanProgressed(EventModel):
    """A step of the family's plan was ticked or unticked (by the family, Borgerservice or another service's event),
    or the plan's steps changed with the family's choices. The whole summary, so the newest one says it all."""

    case_id: uuid.UUID
    plan: PlanSummary
    changed_at: datetime


class JobListingPublished(EventModel):
    """A job listing was imported or changed (no personal data). Key: the listing id."""

    listing_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    employer: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    municipality: ShortText
    workplace_address: str | None = None
    occupation: str | None = None
    required_skills: list[str] = Field(default_factory=list)
    wanted_skills: list[str] = Field(default_factory=list)
    required_languages: list[LanguageSkill] = Field(default_factory=list)
    education_level: EducationLevel = EducationLevel.NONE
    hours_per_week: float | None = None
    published: date
    expires: date


class JobLeadStatusChanged(StatusChanged):
    """An adviser moved a spouse's job lead in its workflow. No names: the case id is the link."""

    case_id: uuid.UUID
    lead_id: uuid.UUID
    listing_id: str


class SpouseJobHelpChanged(EventModel):
    """The family turned the Jobcenter's job help for its spouse off or on (on its own pages). job_match withdraws
    the spouse's open leads when it is turned off and matches again when it is turned on. `change` counts the
    family's changes (1, 2, ...): a reader keeps the highest, so a redelivered or late event changes nothing."""

    case_id: uuid.UUID
    wants_job_help: bool
    change: int = Field(ge=1)
    changed_at: datetime


class FoundLead(EventModel):
    lead_id: uuid.UUID
    listing_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class JobLeadsFound(EventModel):
    """New job leads were found for a spouse (on arrival, or when a listing came that fits): one event for all of
    them; each lead then moves by JobLeadStatusChanged. Before this event each new lead was announced by a
    JobLeadStatusChanged of its own (status new), and readers still read those. No names: the case id is the
    link."""

    case_id: uuid.UUID
    leads: list[FoundLead] = Field(min_length=1, max_length=200)
    found_at: datetime


class FamilyMailRefused(EventModel):
    """The mail server refused a family's e-mail address for good (5xx at SMTP time). No address and no server
    text (they may hold personal data): the case id is the link, the SMTP code says how."""

    case_id: uuid.UUID
    refused_at: datetime
    smtp_code: int | None = Field(default=None, ge=100, le=599)


class ErasureBasis(StrEnum):
    REQUEST = "request"        # the person asked (GDPR art. 17), recorded by Borgerservice with a reason
    RETENTION = "retention"    # the case was closed longer ago than the retention period


class NewcomerErased(EventModel):
    """A case's personal data must be erased everywhere. No reason text: it may itself be personal."""

    case_id: uuid.UUID
    basis: ErasureBasis
    requested_at: datetime


class ErasureConfirmed(EventModel):
    """A service has erased (deleted or anonymised) what it held of a case."""

    case_id: uuid.UUID
    service: str
    erased_at: datetime
    records_erased: int


# ---------------------------------------------------------------------------------------------- envelope

P = TypeVar("P", bound=BaseModel)


class EventEnvelope(_RefusesUnknownFields, Generic[P]):

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = Field(ge=1)
    # The oldest reader version that can read this event: a version that only adds optional fields says so
    # (e.g. v2 with min_reader_version 1), and readers of v1 take it; otherwise a reader refuses newer versions.
    min_reader_version: int | None = Field(default=None, ge=1)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    producer: str
    payload: P


class EventSpec(BaseModel, Generic[P]):
    """What one event is: its type name, version, topic and payload model."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    type: str
    version: int
    topic: str
    payload: builtins.type[P]
    # For a version that only adds optional fields to the one before: readers of that older version may read it.
    min_reader_version: int | None = None
    # The payload field whose value is the message key (ordering and partitioning follow it).
    key: str = "case_id"

    @cached_property
    def envelope_model(self) -> builtins.type[EventEnvelope[P]]:
        # Held here because pydantic keeps parametrized generic models only weakly: after a garbage collection
        # `EventEnvelope[X]` builds the class again, ~2 ms each time (seen in the consumers' profiles).
        return EventEnvelope[self.payload]  # type: ignore[name-defined]  # a runtime parametrization

    def envelope(
        self,
        payload: P,
        *,
        producer: str,
        correlation_id: uuid.UUID,
        causation_id: uuid.UUID | None = None,
        event_id: uuid.UUID | None = None,
    ) -> EventEnvelope[P]:
        return self.envelope_model(
            event_id=event_id or uuid.uuid4(),
            type=self.type,
            version=self.version,
            min_reader_version=self.min_reader_version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            producer=producer,
            payload=payload,
        )

    def parse(self, raw: bytes | None) -> EventEnvelope[P]:
        """Parse a message value; raise UnreadableEvent with the reason when it is not this event."""
        if not raw:
            raise UnreadableEvent("empty message value")
        try:
            envelope = self.envelope_model.model_validate_json(raw)
        except ValidationError as exc:
            envelope = self._parse_newer_version(raw, exc)
        if envelope.type != self.type:
            raise UnreadableEvent(f"expected event type {self.type}, got {envelope.type}")
        if not self.can_read(envelope):
            raise UnreadableEvent(f"{self.type} version {envelope.version} is not readable here (reads v{self.version}"
                                  f"; the event's oldest reader is v{envelope.min_reader_version or envelope.version})")
        return envelope

    def _parse_newer_version(self, raw: bytes, exc: ValidationError) -> EventEnvelope[P]:
        """Unknown fields are refused in this version and older ones; a newer version may carry fields we do not
        know: those are dropped, and parse() then decides by its min_reader_version whether we may read it."""
        unreadable = UnreadableEvent(f"not a valid {self.type} v{self.version}: {_summarise(exc)}")
        unknown = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
        if len(unknown) != exc.error_count():
            raise unreadable from exc
        try:
            data = json.loads(raw)
            for loc in unknown:  # the path of each unknown field, as the validation reported it
                _parent(data, loc).pop(loc[-1])
            envelope = self.envelope_model.model_validate_json(json.dumps(data))
        except (ValidationError, ValueError, LookupError, TypeError, AttributeError):
            raise unreadable from exc
        if envelope.version <= self.version:
            raise unreadable from exc
        return envelope

    def can_read(self, envelope: EventEnvelope) -> bool:
        """The same version; an older one this version only added optional fields to (they are then absent);
        or a newer one that says readers of this version can read it (its added fields are ignored). Nothing
        else: an event this reader cannot be sure to understand goes to the dead letters, not to a guess."""
        if envelope.version <= self.version:
            return envelope.version >= (self.min_reader_version or self.version)
        return (envelope.min_reader_version or envelope.version) <= self.version


def _parent(data: Any, loc: tuple[int | str, ...]) -> Any:
    for step in loc[:-1]:
        data = data[step]
    return data


class UnreadableEvent(Exception):
    """A message that can never be handled: it goes to the dead letters with this reason."""


def _summarise(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]]
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def to_json(envelope: EventEnvelope) -> bytes:
    return envelope.model_dump_json().encode()


# v2 added newcomer.email and newcomer.contact_consent (optional): v1 readers may read it, and v2 readers the v1
# events still on the topic.
NEWCOMER_ARRIVED = EventSpec[NewcomerArrived](
    type="NewcomerArrived", version=2, min_reader_version=1, topic="onboarding.newcomer-arrived.v1",
    payload=NewcomerArrived,
)

# v2 added child_index (optional): v1 readers may read it.
SCHOOL_INTAKE_STATUS_CHANGED = EventSpec[SchoolIntakeStatusChanged](
    type="SchoolIntakeStatusChanged",
    version=2,
    min_reader_version=1,
    topic="onboarding.school-intake-status-changed.v1",
    payload=SchoolIntakeStatusChanged,
)

INTAKE_OFFER_ANSWERED = EventSpec[IntakeOfferAnswered](
    type="IntakeOfferAnswered", version=1, topic="onboarding.intake-offer-answered.v1", payload=IntakeOfferAnswered
)

SPOUSE_JOB_HELP_CHANGED = EventSpec[SpouseJobHelpChanged](
    type="SpouseJobHelpChanged", version=1, topic="onboarding.spouse-job-help-changed.v1",
    payload=SpouseJobHelpChanged,
)

FAMILY_MAIL_REFUSED = EventSpec[FamilyMailRefused](
    type="FamilyMailRefused", version=1, topic="onboarding.family-mail-refused.v1", payload=FamilyMailRefused
)

# v2 added plan (optional): v1 readers may read it.
WELCOME_LETTER_GENERATED = EventSpec[WelcomeLetterGenerated](
    type="WelcomeLetterGenerated", version=2, min_reader_version=1, topic="onboarding.welcome-letter-generated.v1",
    payload=WelcomeLetterGenerated,
)

FAMILY_PLAN_PROGRESSED = EventSpec[FamilyPlanProgressed](
    type="FamilyPlanProgressed", version=1, topic="onboarding.family-plan-progressed.v1", payload=FamilyPlanProgressed
)

JOB_LISTING_PUBLISHED = EventSpec[JobListingPublished](
    type="JobListingPublished", version=1, topic="onboarding.job-listing-published.v1", payload=JobListingPublished,
    key="listing_id",
)

JOB_LEAD_STATUS_CHANGED = EventSpec[JobLeadStatusChanged](
    type="JobLeadStatusChanged", version=1, topic="onboarding.job-lead-status-changed.v1", payload=JobLeadStatusChanged
)

JOB_LEADS_FOUND = EventSpec[JobLeadsFound](
    type="JobLeadsFound", version=1, topic="onboarding.job-leads-found.v1", payload=JobLeadsFound
)

NEWCOMER_ERASED = EventSpec[NewcomerErased](
    type="NewcomerErased", version=1, topic="onboarding.newcomer-erased.v1", payload=NewcomerErased
)

ERASURE_CONFIRMED = EventSpec[ErasureConfirmed](
    type="ErasureConfirmed", version=1, topic="onboarding.erasure-confirmed.v1", payload=ErasureConfirmed
)

ALL_EVENTS: tuple[EventSpec, ...] = (
    NEWCOMER_ARRIVED,
    WELCOME_LETTER_GENERATED,
    FAMILY_PLAN_PROGRESSED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    INTAKE_OFFER_ANSWERED,
    SPOUSE_JOB_HELP_CHANGED,
    FAMILY_MAIL_REFUSED,
    JOB_LISTING_PUBLISHED,
    JOB_LEADS_FOUND,
    JOB_LEAD_STATUS_CHANGED,
    NEWCOMER_ERASED,
    ERASURE_CONFIRMED,
)
