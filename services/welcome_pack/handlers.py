"""Events the welcome pack consumes, and what it does with each.

Consumes: NewcomerArrived (write the letter, the plan and the family's sign-in code), SchoolIntakeStatusChanged
and JobLeadStatusChanged (what the family sees of its children's intake; the plan steps they complete),
NewcomerErased (delete everything of the case, confirm).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from services.welcome_pack import domain
from services.welcome_pack.family import FamilyAccess, report_progress
from services.welcome_pack.family_mail import offer_mail, welcome_notification
from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore, arrival_of, letter_arrival_fields
from shared.bus import Subscription
from shared.erasure import ErasureLog
from shared.events import (
    ERASURE_CONFIRMED,
    FAMILY_MAIL_REFUSED,
    FAMILY_PLAN_PROGRESSED,
    INTAKE_OFFER_ANSWERED,
    JOB_LEAD_STATUS_CHANGED,
    NEWCOMER_ARRIVED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    SPOUSE_JOB_HELP_CHANGED,
    WELCOME_LETTER_GENERATED,
    EventEnvelope,
    JobLeadStatusChanged,
    NewcomerArrived,
    NewcomerErased,
    SchoolIntakeStatusChanged,
    WelcomeLetterGenerated,
)
from shared.notify import NotificationStore, notification
from shared.outbox import outbox_entry, outbox_fields

# What this service publishes (through its outbox) and consumes (its app subscribes a handler to each):
# the event catalogue (docs/asyncapi.yaml) is generated from these.
PUBLISHES = (WELCOME_LETTER_GENERATED, FAMILY_PLAN_PROGRESSED, INTAKE_OFFER_ANSWERED, SPOUSE_JOB_HELP_CHANGED,
             FAMILY_MAIL_REFUSED, ERASURE_CONFIRMED)
CONSUMES = (NEWCOMER_ARRIVED, SCHOOL_INTAKE_STATUS_CHANGED, JOB_LEAD_STATUS_CHANGED, NEWCOMER_ERASED)


@dataclass(frozen=True)
class WelcomePackHandlers:
    """The handlers of the events welcome_pack consumes, with what they need (typed, so the checker sees it)."""

    store: LetterStore
    renderer: LetterRenderer
    settings: WelcomePackSettings
    erasures: ErasureLog
    access: FamilyAccess
    notifications: NotificationStore | None = None

    @cached_property
    def plan_rules(self) -> domain.PlanRules:
        return self.renderer.plan_rules()

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(NEWCOMER_ARRIVED, self.newcomer_arrived, handle_batch=self.newcomers_arrived),
            Subscription(SCHOOL_INTAKE_STATUS_CHANGED, self.school_intake_status_changed,
                         handle_batch=self.school_intake_statuses_changed),
            Subscription(JOB_LEAD_STATUS_CHANGED, self.job_lead_status_changed),
            Subscription(NEWCOMER_ERASED, self.newcomer_erased),
        ]

    async def newcomer_arrived(self, event: EventEnvelope[NewcomerArrived]) -> None:
        await self.newcomers_arrived([event])

    async def newcomers_arrived(self, events: list[EventEnvelope[NewcomerArrived]]) -> None:
        """Write each arrival's letter: one tombstone query, one insert of the new letters and one tombstone
        query again, whatever the batch size. A letter that exists (a redelivered event) is left as it is."""
        case_ids = [str(event.payload.case_id) for event in events]
        erased = await self.erasures.erased_among(case_ids)  # a replayed arrival must not bring erased data back
        letters: dict[str, dict[str, Any]] = {}
        for event in events:
            arrival = event.payload
            language = domain.letter_language(arrival.newcomer.preferred_language)
            letter_id = str(domain.letter_id_for(arrival.case_id, language))
            if str(arrival.case_id) in erased or letter_id in letters:
                continue
            letters[letter_id] = _letter(event, letter_id, language, self.settings, self.plan_rules)
        await self.store.insert_letters(list(letters.values()))
        now = datetime.now(UTC)
        # The plan and the sign-in code: inserts of documents keyed by the case, so a redelivery adds nothing
        # (and a code Borgerservice issued since is not replaced).
        await self.store.add_plans([{"_id": letter["case_id"], "letter_id": letter["_id"],
                                     "language": letter["language"], "created_at": now} for letter in letters.values()])
        await self.store.add_codes_if_none([self.access.new_code_document(letter["case_id"], now, "system")
                                            for letter in letters.values()])
        await self._mail_the_families(events, letters)
        await self.erasures.forget_if_erased(case_ids, self._erase_case)

    async def _mail_the_families(self, events: list[EventEnvelope[NewcomerArrived]],
                                 letters: dict[str, dict[str, Any]]) -> None:
        """The welcome mail to every family that gave an address and agreed, while it agrees (an unsubscribed
        family's redelivered arrival sends nothing; a sent mail is not sent again)."""
        if self.notifications is None:
            return
        now = datetime.now(UTC)
        by_case = {letter["case_id"]: letter for letter in letters.values()}
        contacts = [{"_id": str(e.payload.case_id), "email": e.payload.newcomer.email, "consent": True,
                     "language": by_case[str(e.payload.case_id)]["language"], "given_at": now}
                    for e in events if e.payload.newcomer.email and e.payload.newcomer.contact_consent
                    and str(e.payload.case_id) in by_case]
        if not contacts:
            return
        await self.store.remember_contacts(contacts)
        consenting = await self.store.consenting([c["_id"] for c in contacts])
        await self.notifications.add([
            welcome_notification(by_case[c["_id"]], c["email"], self.renderer, self.settings, now,
                                 await self.access.sign_in_url(c["_id"], now))
            for c in contacts if c["_id"] in consenting])

    async def school_intake_status_changed(self, event: EventEnvelope[SchoolIntakeStatusChanged]) -> None:
        await self.school_intake_statuses_changed([event])

    async def school_intake_statuses_changed(self, events: list[EventEnvelope[SchoolIntakeStatusChanged]]) -> None:
        """The family's view of its children's intakes, and the plan steps an intake completes: two commands for
        the intakes and one tombstone query per batch; an offer's mail and a completed step (rarer) per event, in
        order. A case whose arrival this service has not handled yet (school_intake was faster, or the arrival
        is further back in a backlog) is recorded all the same: its plan, when written, shows what is stored.
        An erased case's records go again at once (the tombstone query)."""
        changes = [e for e in events if e.payload.child_index is not None]  # a v1 event names no child
        if not changes:
            return
        await self.store.record_intakes([_family_intake(e) for e in changes])
        for event in changes:
            change = event.payload
            case_id = str(change.case_id)
            if change.status == "offered":
                await self._mail_the_offer(case_id, change)
            await self._tick(case_id, domain.step_ids_done_by_intake(change.kind, change.status, change.child_index),
                             f"{event.producer}", change.changed_at, event)
        await self.erasures.forget_if_erased(sorted({str(e.payload.case_id) for e in changes}), self._erase_case)

    async def _mail_the_offer(self, case_id: str, change: SchoolIntakeStatusChanged) -> None:
        """The offered place, to a consenting family, in its language (once per offer: the task's id)."""
        if self.notifications is None or not await self.store.consenting([case_id]):
            return
        contact = await self.store.contact(case_id)
        letter = await self.store.letter_of_plan(case_id)
        if contact is None or letter is None:
            return
        children = arrival_of(letter).household.children
        index = change.child_index
        name = domain.first_name(children[index].full_name) if index is not None and index < len(children) else ""
        now = datetime.now(UTC)
        mail = offer_mail(contact["language"], contact["email"], name, change, self.renderer, self.settings,
                          await self.access.sign_in_url(case_id, now))
        await self.notifications.add([notification(f"family-offer:{change.task_id}", "family_offer", mail,
                                                   case_id=case_id, now=now)])

    async def job_lead_status_changed(self, event: EventEnvelope[JobLeadStatusChanged]) -> None:
        """A lead contacted, applied or hired ticks the spouse's steps (also before this service has handled the
        case's arrival: the plan shows them once written); the other statuses (most events: ten new leads per
        spouse) need no read at all."""
        change = event.payload
        case_id = str(change.case_id)
        step_ids = domain.step_ids_done_by_lead(change.status)
        if not step_ids:
            return
        await self._tick(case_id, step_ids, event.producer, change.changed_at, event)
        await self.erasures.forget_if_erased([case_id], self._erase_case)

    async def _tick(self, case_id: str, step_ids: list[str], by: str, at: datetime, event: EventEnvelope) -> None:
        """Mark the steps done unless someone set them later than this event happened (a family's untick after a
        placement stays; the same event twice writes the same, and reports the progress once)."""
        if not step_ids:
            return
        states = await self.store.step_states_of(case_id, step_ids)
        ticked = False
        for step_id in step_ids:
            stored = states.get(step_id)
            if stored is not None and stored.get("cause") != str(event.event_id) \
                    and stored["at"] >= at:
                continue
            await self.store.set_step_state(case_id, step_id, domain.StepStatus.DONE.value, by, at,
                                            cause=str(event.event_id))
            ticked = True
        if ticked:
            await report_progress(self.store, self.plan_rules, self.settings, case_id, datetime.now(UTC),
                                  cause=event.event_id)

    async def _erase_case(self, case_id: str) -> int:
        dropped = await self.notifications.drop_case(case_id) if self.notifications is not None else 0
        return dropped + await self.store.erase_case(case_id)

    async def newcomer_erased(self, event: EventEnvelope[NewcomerErased]) -> None:
        await self.erasures.erase(event, self._erase_case)


def _family_intake(event: EventEnvelope[SchoolIntakeStatusChanged]) -> dict[str, Any]:
    """What the family sees of a child's intake (one document per child and kind of place)."""
    change = event.payload
    case_id = str(change.case_id)
    return {
        "_id": f"{case_id}:{change.child_index}:{change.kind}", "case_id": case_id,
        "child_index": change.child_index, "kind": change.kind, "unit_id": change.unit_id,
        "unit_name": change.unit_name, "unit_address": change.unit_address, "status": change.status,
        "changed_at": change.changed_at,
        "task_id": str(change.task_id), "waitlist_position": change.waitlist_position,
        "grade_band": list(change.grade_band) if change.grade_band else None,
        "offer_deadline": change.offer_deadline.isoformat() if change.offer_deadline else None,
        "source_event_id": str(event.event_id)}


def _letter(event: EventEnvelope[NewcomerArrived], letter_id: str, language: str, settings: WelcomePackSettings,
            rules: domain.PlanRules) -> dict[str, Any]:
    arrival = event.payload
    sections = domain.letter_sections(arrival)
    generated = WELCOME_LETTER_GENERATED.envelope(
        WelcomeLetterGenerated(case_id=arrival.case_id, letter_id=letter_id, language=language,
                               sections=[s.value for s in sections],
                               plan=domain.plan_summary(domain.onboarding_plan(arrival, rules), {})),
        producer=settings.service_name, correlation_id=event.correlation_id, causation_id=event.event_id,
    )
    return {
        "_id": letter_id,
        "case_id": str(arrival.case_id),
        "language": language,
        "sections": [s.value for s in sections],
        # What the letter is rendered from when it is read (api.letter_html_in); erased with the case.
        **letter_arrival_fields(arrival),
        "issued_on": event.occurred_at.date().isoformat(),
        "source_event_id": str(event.event_id),
        "created_at": datetime.now(UTC),
        **outbox_fields([outbox_entry(settings.topic(WELCOME_LETTER_GENERATED.topic), str(arrival.case_id),
                                      generated)]),
    }
