"""Borgerservice's pages: a newcomer's welcome letter in any supported language (and its PDF), the family's plan
(progress, ticking steps for the family, a new sign-in link); and the family's unsubscribe link."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.welcome_pack.api import Borgerservice, Lang, StoreDep, _language, read_letter
from services.welcome_pack.domain import SUPPORTED_LANGUAGES, StepStatus
from services.welcome_pack.family import PlanView, plan_view, report_progress, step_text
from services.welcome_pack.family_mail import valid_unsubscribe
from services.welcome_pack.plan_texts import STAGES
from shared.audit import AuditAction, AuditDep
from shared.pages import language
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

LANGUAGE_NAMES = {"da": "Dansk", "en": "English", "de": "Deutsch", "zh": "中文", "ar": "العربية", "ru": "Русский",
                  "es": "Español", "fr": "Français"}


@router.get("/unsubscribe/{case_id}/{mac}")
async def unsubscribe_page(case_id: uuid.UUID, mac: str, request: Request) -> Response:
    """The family's unsubscribe link (no sign-in): asks once, in the family's language."""
    return await _unsubscribe(request, str(case_id), mac, act=False)


@router.post("/unsubscribe/{case_id}/{mac}")
async def unsubscribe(case_id: uuid.UUID, mac: str, request: Request) -> Response:
    """Withdraws the consent: pending family mails are dropped, none is sent after (also RFC 8058 one-click)."""
    return await _unsubscribe(request, str(case_id), mac, act=True)


async def _unsubscribe(request: Request, case_id: str, mac: str, *, act: bool) -> Response:
    state = request.app.state
    contact = await state.store.contact(case_id)
    language = contact["language"] if contact else "en"
    if contact is None or not valid_unsubscribe(case_id, mac, state.settings):
        # The same answer whether the case is unknown or the link forged.
        return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="invalid"), status_code=404)
    if not act:
        return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="ask"))
    await state.store.withdraw_consent(case_id, datetime.now(UTC))
    await state.notifications.drop_case(case_id)
    return HTMLResponse(state.renderer.page("unsubscribe.html", language, state="done"))


@router.get("/")
async def home(request: Request, user: Borgerservice, pages: PagesDep) -> Response:
    return pages.render(request, "letters_home.html", registration_url=pages.settings.registration_url)


@router.get("/letters/{letter_id}/view")
async def letter_page(letter_id: uuid.UUID, request: Request, user: Borgerservice, store: StoreDep, pages: PagesDep,
                      audit: AuditDep, lang: Lang = None) -> Response:
    letter = await read_letter(store, letter_id, user, audit, "letter page", channel="page")
    language = _language(lang, letter)
    return pages.render(request, "letter_page.html", letter=letter, language=language,
                        languages={code: LANGUAGE_NAMES[code] for code in SUPPORTED_LANGUAGES},
                        registration_url=pages.settings.registration_url)


# ------------------------------------------------------------------------------------ the family's plan, for staff

async def _staff_plan(request: Request, case_id: uuid.UUID) -> PlanView:
    state = request.app.state
    view = await plan_view(state.store, state.plan_rules, str(case_id), datetime.now(UTC).date())
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No plan for this case.")
    return view


@router.get("/cases/{case_id}/plan")
async def plan_page(case_id: uuid.UUID, request: Request, user: Borgerservice, pages: PagesDep,
                    audit: AuditDep) -> Response:
    """Borgerservice follows the family's plan: progress, every step with who ticked it, and the sign-in link."""
    view = await _staff_plan(request, case_id)
    await audit.record(user, AuditAction.READ, "family plan", case_ids=[str(case_id)], channel="page")
    state = request.app.state
    lang = language(request)
    gettext = state.renderer.gettext(lang)
    return pages.render(
        request, "plan_page.html", view=view, registration_url=pages.settings.registration_url,
        steps=[(s, step_text(s.step, s.status, gettext, state.renderer.town)) for s in view.steps],
        stage=lambda stage: gettext(STAGES[stage]),
        code_state=await state.access.code_state(str(case_id), datetime.now(UTC)),
        new_link=request.query_params.get("issued") == "1")


@router.post("/cases/{case_id}/plan/steps/{step_id}")
async def staff_tick(case_id: uuid.UUID, step_id: str, request: Request, user: Borgerservice, audit: AuditDep,
                     status_value: Annotated[StepStatus, Form(alias="status")]) -> Response:
    """Borgerservice ticks a step for the family (or marks it not relevant); audited."""
    view = await _staff_plan(request, case_id)
    if view.step(step_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such step in this case's plan.")
    await audit.record(user, AuditAction.CHANGE, f"plan step {step_id}: {status_value.value}",
                       case_ids=[str(case_id)], record_ids=[step_id], channel="page")
    state, now = request.app.state, datetime.now(UTC)
    await state.store.set_step_state(str(case_id), step_id, status_value.value, user.subject, now)
    await report_progress(state.store, state.plan_rules, state.settings, str(case_id), now)
    return RedirectResponse(f"/cases/{case_id}/plan#{step_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/cases/{case_id}/sign-in-link")
async def issue_sign_in_link(case_id: uuid.UUID, request: Request, user: Borgerservice, audit: AuditDep) -> Response:
    """A new sign-in link for the family (the old one stops working); print the letter again to hand it over."""
    await _staff_plan(request, case_id)
    await audit.record(user, AuditAction.CHANGE, "new sign-in link", case_ids=[str(case_id)], channel="page")
    await request.app.state.access.issue_new(str(case_id), datetime.now(UTC), user.subject)
    return RedirectResponse(f"/cases/{case_id}/plan?issued=1", status_code=status.HTTP_303_SEE_OTHER)
