"""The family's own pages (no MitID needed): sign in with the letter's link, then the plan, the letter and the
children's intake, in the family's language (switchable to any of the 8; right-to-left for Arabic).

A family only ever reaches its own case: the case comes from the session, never from the URL, so another case's
id cannot be asked for; a step id that is not in the plan is 404. Every read and change is audited with the
family as the actor. Forms carry a CSRF token bound to the session.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.welcome_pack.api import LETTER_CSP, letter_html_in
from services.welcome_pack.domain import SUPPORTED_LANGUAGES, StepStatus, first_name
from services.welcome_pack.family import (
    FamilySession,
    PlanView,
    SignInOutcome,
    plan_view,
    report_progress,
    step_text,
    valid_case_id,
)
from services.welcome_pack.plan_texts import ANSWERS, INTAKE_KINDS, INTAKE_STATUSES, OFFER, STAGES, WAITLIST_POSITION
from shared.audit import AuditAction, AuditDep
from shared.auth import Principal, csrf_token_for
from shared.events import (
    INTAKE_OFFER_ANSWERED,
    SPOUSE_JOB_HELP_CHANGED,
    IntakeOfferAnswered,
    OfferAnswer,
    SpouseJobHelpChanged,
)
from shared.outbox import outbox_entry, outbox_fields

router = APIRouter(include_in_schema=False)

FAMILY_COOKIE = "velkommen_family"
FAMILY_LANG_COOKIE = "velkommen_family_lang"
LANGUAGE_NAMES = {"da": "Dansk", "en": "English", "de": "Deutsch", "zh": "中文", "ar": "العربية", "ru": "Русский",
                  "es": "Español", "fr": "Français"}
PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"


class FamilySignInRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "Sign in with the link in your letter.")


async def family_session(request: Request) -> FamilySession:
    session = await request.app.state.access.session(request.cookies.get(FAMILY_COOKIE), datetime.now(UTC))
    if session is None:
        raise FamilySignInRequired()
    return session


FamilyDep = Annotated[FamilySession, Depends(family_session)]


def _language(request: Request, fallback: str) -> str:
    chosen = request.cookies.get(FAMILY_LANG_COOKIE)
    return chosen if chosen in SUPPORTED_LANGUAGES else fallback


def _page(request: Request, template: str, language: str, status_code: int = 200, **values: object) -> HTMLResponse:
    html = request.app.state.renderer.page(template, language, languages=LANGUAGE_NAMES, **values)
    return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": PAGE_CSP})


def family_error(request: Request, exc: HTTPException) -> HTMLResponse | None:
    """The family's error pages (in the language it chose), for the family's paths only."""
    if not request.url.path.startswith(("/family", "/sign-in")):
        return None
    language = _language(request, "en")
    state = {status.HTTP_401_UNAUTHORIZED: "sign_in_required",
             status.HTTP_403_FORBIDDEN: "stale_form"}.get(exc.status_code, "not_found")
    return _page(request, "family_message.html", language, status_code=exc.status_code, state=state)


# ------------------------------------------------------------------------------------------------ signing in

@router.get("/sign-in/{case_id}/{code}")
async def sign_in_page(case_id: str, code: str, request: Request) -> Response:
    """Asks before spending the code: mail scanners that open links must not use it up."""
    plan = await request.app.state.store.plan(case_id) if valid_case_id(case_id) else None
    language = _language(request, plan["language"] if plan else "en")
    return _page(request, "family_message.html", language, state="ask")


@router.post("/sign-in/{case_id}/{code}")
async def sign_in(case_id: str, code: str, request: Request) -> Response:
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    case = valid_case_id(case_id)
    outcome, token = (await state.access.sign_in(case, code[:64], client, datetime.now(UTC)) if case
                      else (SignInOutcome.REFUSED, None))
    if outcome is SignInOutcome.SIGNED_IN and case and token:
        await state.runtime.audit.record(Principal.family(case), AuditAction.CREATE, "family sign-in",
                                         case_ids=[case], channel="family")
        response = RedirectResponse("/family", status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(FAMILY_COOKIE, token, httponly=True, samesite="lax",
                            secure=state.settings.session_cookie_secure,
                            max_age=state.settings.family_session_days * 86400)
        return response
    if case is None:
        await state.store.record_failure(None, client, datetime.now(UTC))
    language = _language(request, "en")
    if outcome is SignInOutcome.TOO_MANY_TRIES:
        return _page(request, "family_message.html", language, status.HTTP_429_TOO_MANY_REQUESTS, state="too_many")
    # Wrong, used or expired: the same page, never which.
    return _page(request, "family_message.html", language, status.HTTP_404_NOT_FOUND, state="invalid")


@router.post("/family/sign-out")
async def sign_out(request: Request, session: FamilyDep) -> Response:
    await request.app.state.store.end_session(session.token_hash)
    response = RedirectResponse("/family/signed-out", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(FAMILY_COOKIE)
    return response


@router.get("/family/signed-out")
async def signed_out(request: Request) -> Response:
    return _page(request, "family_message.html", _language(request, "en"), state="signed_out")


@router.get("/family/language/{lang}")
async def switch_language(lang: str) -> Response:
    response = RedirectResponse("/family", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(FAMILY_LANG_COOKIE, lang if lang in SUPPORTED_LANGUAGES else "en", samesite="lax",
                        max_age=365 * 86400)
    return response


# ------------------------------------------------------------------------------------------------ the pages

def _check_csrf(request: Request, csrf: str) -> None:
    if not hmac.compare_digest(csrf, csrf_token_for(request.cookies.get(FAMILY_COOKIE, ""))):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "The form is out of date; reload the page.")


@router.get("/family")
async def overview(request: Request, session: FamilyDep, audit: AuditDep) -> Response:
    state = request.app.state
    today = datetime.now(UTC).date()
    view = await plan_view(state.store, state.plan_rules, session.case_id, today)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    await audit.record(Principal.family(session.case_id), AuditAction.READ, "family plan",
                       case_ids=[session.case_id], channel="family")
    language = _language(request, session.language)
    gettext = state.renderer.gettext(language)
    town = state.renderer.town
    answers = await state.store.answers_to([i["task_id"] for i in view.intakes if i.get("task_id")])
    return _page(
        request, "family_home.html", language, view=view, today=today,
        stages=[(gettext(STAGES[stage]), [(s, step_text(s.step, s.status, gettext, town)) for s in steps])
                for stage, steps in view.stages()],
        due=lambda day: _date(day, language),
        intakes=[_intake_view(i, view, answers.get(i.get("task_id", "")), gettext, language, today)
                 for i in view.intakes],
        opening_hours=state.renderer.opening_hours_of(language),
        csrf=csrf_token_for(request.cookies.get(FAMILY_COOKIE, "")), current=language)


@router.post("/family/steps/{step_id}")
async def tick(step_id: str, request: Request, session: FamilyDep, audit: AuditDep,
               status_value: Annotated[StepStatus, Form(alias="status")],
               csrf: Annotated[str, Form(max_length=200)]) -> Response:
    state = request.app.state
    _check_csrf(request, csrf)
    view = await plan_view(state.store, state.plan_rules, session.case_id, datetime.now(UTC).date())
    if view is None or view.step(step_id) is None or status_value is StepStatus.NOT_RELEVANT:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    actor = Principal.family(session.case_id)
    await audit.record(actor, AuditAction.CHANGE, f"plan step {step_id}: {status_value.value}",
                       case_ids=[session.case_id], record_ids=[step_id], channel="family")
    now = datetime.now(UTC)
    await state.store.set_step_state(session.case_id, step_id, status_value.value, actor.subject, now)
    await report_progress(state.store, state.plan_rules, state.settings, session.case_id, now)
    return RedirectResponse(f"/family#{step_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/family/job-help")
async def change_job_help(request: Request, session: FamilyDep, audit: AuditDep,
                          job_help: Annotated[bool, Form()], csrf: Annotated[str, Form(max_length=200)]) -> Response:
    """The family turns the Jobcenter's job help for its spouse off or on. job_match withdraws or reopens the
    leads (SpouseJobHelpChanged, through the outbox); the plan's Jobcenter steps follow at once. Asking for what
    is already so changes nothing."""
    state = request.app.state
    _check_csrf(request, csrf)
    view = await plan_view(state.store, state.plan_rules, session.case_id, datetime.now(UTC).date())
    if view is None or view.job_help is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)  # no spouse in this household
    if view.job_help != job_help:
        now = datetime.now(UTC)
        change = view.job_help_changes + 1
        actor = Principal.family(session.case_id)
        await audit.record(actor, AuditAction.CHANGE, f"spouse job help {'on' if job_help else 'off'}",
                           case_ids=[session.case_id], channel="family")
        event = SPOUSE_JOB_HELP_CHANGED.envelope(
            SpouseJobHelpChanged(case_id=uuid.UUID(session.case_id), wants_job_help=job_help, change=change,
                                 changed_at=now),
            producer=state.settings.service_name, correlation_id=uuid.UUID(session.case_id))
        # A second change at the same moment (another tab) takes the same number and is refused by the key: the
        # page then shows what the first one did.
        await state.store.add_job_help_change({
            "_id": f"{session.case_id}:{change}", "case_id": session.case_id, "change": change,
            "wants_job_help": job_help, "by": actor.subject, "at": now,
            **outbox_fields([outbox_entry(state.settings.topic(SPOUSE_JOB_HELP_CHANGED.topic), session.case_id,
                                          event)])})
        await report_progress(state.store, state.plan_rules, state.settings, session.case_id, now)  # steps changed
    return RedirectResponse("/family#job-help", status_code=status.HTTP_303_SEE_OTHER)


def _intake_view(intake: dict, view: PlanView, answer: dict | None, gettext: Callable[[str], str], language: str,
                 today: date) -> dict[str, object]:
    """One child's intake in the family's words: the place, where, the status, the line, an offer to answer."""
    children = view.arrival.household.children
    index = intake["child_index"]
    band, deadline = intake.get("grade_band"), intake.get("offer_deadline")
    open_offer = intake["status"] == "offered" and deadline is not None and date.fromisoformat(deadline) >= today
    return {
        "key": f"{index}/{intake['kind']}",
        "child": first_name(children[index].full_name) if index < len(children) else "",
        "kind": gettext(INTAKE_KINDS.get(intake["kind"], intake["kind"])),
        "status": gettext(INTAKE_STATUSES.get(intake["status"], intake["status"])), "unit": intake["unit_name"],
        "address": intake.get("unit_address"),
        "position": gettext(WAITLIST_POSITION) % {"position": intake["waitlist_position"], "low": band[0],
                                                   "high": band[1]}
        if intake["status"] == "waitlisted" and intake.get("waitlist_position") and band else None,
        "offer": gettext(OFFER) % {"school": intake["unit_name"], "date": _date(date.fromisoformat(deadline), language)}
        if intake["status"] == "offered" and deadline else None,
        "can_answer": open_offer and answer is None,
        "answer": gettext(ANSWERS[answer["answer"]]) if answer else None,
    }


@router.post("/family/intakes/{child_index}/{kind}/answer")
async def answer_offer(child_index: int, kind: str, request: Request, session: FamilyDep, audit: AuditDep,
                       answer: Annotated[OfferAnswer, Form()], csrf: Annotated[str, Form(max_length=200)]) -> Response:
    """The family accepts or declines an offered place; school_intake decides what the answer does. An answer
    after the deadline, after staff acted or a second one changes nothing (and says so)."""
    state = request.app.state
    _check_csrf(request, csrf)
    # The id comes from the session's case: another family's intake cannot be named.
    intake = await state.store.intake(session.case_id, f"{child_index}:{kind}")
    if intake is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    now = datetime.now(UTC)
    deadline = intake.get("offer_deadline")
    language = _language(request, session.language)
    if intake["status"] != "offered" or deadline is None or date.fromisoformat(deadline) < now.date():
        return _page(request, "family_message.html", language, status.HTTP_409_CONFLICT, state="offer_closed")
    await audit.record(Principal.family(session.case_id), AuditAction.CHANGE, f"offer {answer.value}",
                       case_ids=[session.case_id], record_ids=[intake["task_id"]], channel="family")
    event = INTAKE_OFFER_ANSWERED.envelope(
        IntakeOfferAnswered(case_id=uuid.UUID(session.case_id), task_id=uuid.UUID(intake["task_id"]), answer=answer,
                            answered_at=now),
        producer=state.settings.service_name, correlation_id=uuid.UUID(session.case_id))
    await state.store.add_answer({
        "_id": intake["task_id"], "case_id": session.case_id, "answer": answer.value, "answered_at": now,
        **outbox_fields([outbox_entry(state.settings.topic(INTAKE_OFFER_ANSWERED.topic), session.case_id, event)])})
    return RedirectResponse("/family#places", status_code=status.HTTP_303_SEE_OTHER)


async def _letter(request: Request, session: FamilySession, audit: AuditDep, what: str) -> tuple[str, str]:
    state = request.app.state
    letter = await state.store.letter_of_plan(session.case_id)
    if letter is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    await audit.record(Principal.family(session.case_id), AuditAction.READ, what, case_ids=[session.case_id],
                       record_ids=[letter["_id"]], channel="family")
    language = _language(request, session.language)
    return letter_html_in(state.renderer, letter, language, sign_in_url=None), language


@router.get("/family/letter")
async def letter(request: Request, session: FamilyDep, audit: AuditDep) -> Response:
    html, _ = await _letter(request, session, audit, "family letter")
    return HTMLResponse(html, headers={"Content-Security-Policy": LETTER_CSP})


@router.get("/family/letter.pdf")
async def letter_pdf(request: Request, session: FamilyDep, audit: AuditDep) -> Response:
    html, language = await _letter(request, session, audit, "family letter pdf")
    pdf = await asyncio.to_thread(request.app.state.renderer.render_pdf, html)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="welcome-{language}.pdf"'})


def _date(day: date, language: str) -> str:
    return format_date(day, format="long", locale=language)


