"""The family's access and view: sign-in codes and sessions (rules in signin.py), and the plan as the family and
Borgerservice see it (steps from the domain, statuses and intakes from the store, texts from the catalogs)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.welcome_pack import domain, signin
from services.welcome_pack import plan_texts as texts
from services.welcome_pack.domain import PlanRules, PlanStep, StepState, StepStatus
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore, arrival_of
from shared.events import FAMILY_PLAN_PROGRESSED, FamilyPlanProgressed, NewcomerArrived
from shared.outbox import outbox_entry, outbox_fields


class SignInOutcome(StrEnum):
    SIGNED_IN = "signed_in"
    REFUSED = "refused"          # wrong, used or expired: one answer for all three
    TOO_MANY_TRIES = "too_many_tries"


@dataclass(frozen=True)
class FamilySession:
    case_id: str
    language: str
    token_hash: str


class FamilyAccess:
    def __init__(self, store: LetterStore, settings: WelcomePackSettings):
        self.store = store
        self.settings = settings
        self.limits = signin.SignInLimits(settings.sign_in_max_failures_per_case,
                                          settings.sign_in_max_failures_per_client,
                                          timedelta(minutes=settings.sign_in_failure_window_minutes))

    def _url(self, case_id: str, code: str) -> str:
        return f"{self.settings.welcome_pack_url}/sign-in/{case_id}/{code}"

    def new_code_document(self, case_id: str, now: datetime, issued_by: str) -> dict[str, Any]:
        nonce = signin.new_nonce()
        code = signin.derive_code(self.settings.link_secret(), case_id, nonce)
        return signin.code_document(case_id, nonce, code, now, self.settings.sign_in_code_valid, issued_by)

    async def _current(self, case_id: str, now: datetime) -> tuple[str, str | None]:
        """The state of the case's code ("active", "used", "expired" or "none") and, when active, the code."""
        stored = await self.store.current_code(case_id)
        if stored is None:
            return "none", None
        if await self.store.is_spent(stored["code_hash"]):
            return "used", None
        code = signin.derive_code(self.settings.link_secret(), case_id, stored["nonce"])
        return ("active", code) if signin.code_is_current(stored, code, now) else ("expired", None)

    async def sign_in_url(self, case_id: str, now: datetime) -> str | None:
        """The link to print for the case, while its code works (none when used or expired: issue a new one)."""
        _, code = await self._current(case_id, now)
        return self._url(case_id, code) if code else None

    async def code_state(self, case_id: str, now: datetime) -> str:
        """For Borgerservice: "active", "used", "expired" or "none"."""
        state, _ = await self._current(case_id, now)
        return state

    async def issue_new(self, case_id: str, now: datetime, issued_by: str) -> str:
        """A new code for the case; the old one stops working at once."""
        doc = self.new_code_document(case_id, now, issued_by)
        await self.store.replace_code(doc)
        return self._url(case_id, signin.derive_code(self.settings.link_secret(), case_id, doc["nonce"]))

    async def sign_in(self, case_id: str, code: str, client: str, now: datetime) -> tuple[SignInOutcome, str | None]:
        """Spend the code and start a session: (outcome, the session token for the cookie)."""
        by_case, by_client = await self.store.failures_since(case_id, client, self.limits.since(now))
        if by_case >= self.limits.failures_per_case or by_client >= self.limits.failures_per_client:
            return SignInOutcome.TOO_MANY_TRIES, None
        stored = await self.store.current_code(case_id)
        if not signin.code_is_current(stored, code, now) or stored is None \
                or not await self.store.spend(stored["code_hash"], case_id, now):
            await self.store.record_failure(case_id, client, now)
            return SignInOutcome.REFUSED, None
        plan = await self.store.plan(case_id)
        token = signin.new_session_token()
        await self.store.start_session(signin.digest(token), case_id, plan["language"] if plan else "en", now,
                                       now + self.settings.family_session_valid)
        return SignInOutcome.SIGNED_IN, token

    async def session(self, token: str | None, now: datetime) -> FamilySession | None:
        if not token:
            return None
        token_hash = signin.digest(token)
        stored = await self.store.session(token_hash)
        if not signin.session_is_current(stored, now) or stored is None:
            return None
        return FamilySession(case_id=stored["case_id"], language=stored["language"], token_hash=token_hash)


# ----------------------------------------------------------------------------------------------- the plan view

@dataclass(frozen=True)
class StepView:
    step: PlanStep
    state: StepState | None
    overdue: bool

    @property
    def status(self) -> StepStatus:
        return self.state.status if self.state else StepStatus.TO_DO


@dataclass(frozen=True)
class PlanView:
    case_id: str
    arrival: NewcomerArrived  # as the family has since chosen (job help for the spouse)
    steps: list[StepView]
    progress: domain.PlanProgress
    intakes: list[dict[str, Any]]
    job_help_changes: int = 0  # how many times the family turned job help off or on

    def stages(self) -> list[tuple[domain.PlanStage, list[StepView]]]:
        return [(stage, [s for s in self.steps if s.step.stage is stage]) for stage in domain.PlanStage
                if any(s.step.stage is stage for s in self.steps)]

    def step(self, step_id: str) -> StepView | None:
        return next((s for s in self.steps if s.step.id == step_id), None)

    @property
    def job_help(self) -> bool | None:
        """Job help for the spouse on or off; None without a spouse."""
        spouse = self.arrival.household.spouse
        return spouse.wants_job_help if spouse is not None else None


def intake_keys(arrival: NewcomerArrived) -> list[str]:
    """The ids of the intake views a household can have (one per child and intake kind)."""
    return [f"{index}:{kind}" for index in range(len(arrival.household.children)) for kind in domain.INTAKE_KINDS]


def _state(doc: dict[str, Any]) -> StepState:
    return StepState(StepStatus(doc["status"]), doc["by"], doc["at"])


async def plan_view(store: LetterStore, rules: PlanRules, case_id: str, today: date) -> PlanView | None:
    plan = await store.plan(case_id)
    letter = await store.get_letter(plan["letter_id"]) if plan else None
    if plan is None or letter is None:
        return None
    arrival = arrival_of(letter)
    choice = await store.job_help_choice(case_id, plan.get("job_help_change", 0)) \
        if arrival.household.spouse is not None else None
    if choice is not None:
        arrival = domain.with_job_help_choice(arrival, choice["wants_job_help"])
    steps = domain.onboarding_plan(arrival, rules)
    states = {step_id: _state(doc) for step_id, doc in (await store.step_states_of(case_id,
                                                                                  [s.id for s in steps])).items()}
    intakes = sorted(await store.intakes_of(case_id, intake_keys(arrival)), key=lambda d: (d["child_index"],
                                                                                           d["kind"]))
    return PlanView(
        case_id=case_id, arrival=arrival,
        steps=[StepView(s, states.get(s.id), domain.is_overdue(s, states.get(s.id), today)) for s in steps],
        progress=domain.plan_progress(steps, states, today), intakes=intakes,
        job_help_changes=choice["change"] if choice else 0)


async def report_progress(store: LetterStore, rules: PlanRules, settings: WelcomePackSettings, case_id: str,
                          now: datetime, cause: uuid.UUID | None = None) -> None:
    """Tell the other services how far the family has come (FamilyPlanProgressed, through the outbox), after a
    change of its steps. `cause`: the event that changed them, so that handling it twice reports once."""
    view = await plan_view(store, rules, case_id, now.date())
    if view is None:
        return
    summary = domain.plan_summary([s.step for s in view.steps], {s.step.id: s.state for s in view.steps if s.state})
    case = uuid.UUID(case_id)
    event = FAMILY_PLAN_PROGRESSED.envelope(
        FamilyPlanProgressed(case_id=case, plan=summary, changed_at=now), producer=settings.service_name,
        correlation_id=case, event_id=uuid.uuid5(cause, "plan-progress") if cause else None)
    await store.add_progress_report({
        "_id": str(event.event_id), "case_id": case_id, "at": now,
        **outbox_fields([outbox_entry(settings.topic(FAMILY_PLAN_PROGRESSED.topic), case_id, event)])})


def valid_case_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class StepText:
    """A step as a reader sees it, in one language."""

    title: str
    help: str
    bring: list[str]
    actor: str
    status: str
    place: dict[str, Any] | None


def step_text(step: PlanStep, status: StepStatus, gettext: Callable[[str], str],
              town: dict[str, Any]) -> StepText:
    params = {"name": "", **dict(step.params)}
    return StepText(
        title=gettext(texts.STEP_TITLES[step.kind]) % params,
        help=gettext(texts.STEP_HELP[step.kind]) % params,
        bring=[gettext(texts.DOCUMENTS[d]) for d in step.bring],
        actor=gettext(texts.ACTORS[step.actor]),
        status=gettext(texts.STATUSES[status]),
        place=town.get(step.place) if step.place else None,
    )
