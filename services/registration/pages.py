"""Borgerservice's pages: register a household, find a case, follow it downstream on its timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from services.registration import domain
from services.registration.api import Borgerservice, SettingsDep, StoreDep, implausible, register
from services.registration.cases import close_case
from services.registration.erasure import CaseNotFound, erase_case
from services.registration.schemas import RegistrationCreate
from shared import forms
from shared.audit import AuditAction, AuditDep
from shared.events import DanishLevel, EducationLevel, ErasureBasis, LanguageLevel, PurposeOfStay
from shared.pages import language
from shared.web import PagesDep

router = APIRouter(include_in_schema=False)

LETTER_LANGUAGES = {"da": "Dansk", "en": "English", "de": "Deutsch", "ar": "العربية", "zh": "中文", "ru": "Русский",
                    "es": "Español", "fr": "Français"}
# The services that hold copies of a case and confirm its erasure.
ERASING_SERVICES = ("welcome_pack", "school_intake", "job_match")
# Form fields that hold lists, typed as comma-separated text: "ar native, en B2" or "TIG, MIG/MAG".
_LANGUAGE_SKILL_FIELDS = ("newcomer.languages", "household.spouse.languages")


def _choices() -> dict[str, Any]:
    return {"purposes": list(PurposeOfStay), "education_levels": list(EducationLevel),
            "danish_levels": list(DanishLevel),
            "language_levels": list(LanguageLevel), "letter_languages": LETTER_LANGUAGES}


def _language_skills(text: str) -> list[dict[str, str]] | str:
    skills = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        skills.append({"language": words[0], "level": words[1] if len(words) > 1 else ""})
    return skills


def registration_from_form(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """The RegistrationCreate body a household form describes (the spouse only when "has spouse" is ticked)."""
    data = forms.nest((name, value) for name, value in fields if name not in ("csrf_token", "idempotency_key"))
    household = data.setdefault("household", {})
    if household.pop("has_spouse", None) != "on":
        household.pop("spouse", None)
    for path in _LANGUAGE_SKILL_FIELDS:
        head, key = path.rsplit(".", 1)
        node = _at(data, head)
        if node is not None and isinstance(node.get(key), str):
            node[key] = _language_skills(node[key])
    if "newcomer" in data:
        data["newcomer"]["contact_consent"] = data["newcomer"].get("contact_consent") == "on"
    spouse = household.get("spouse")
    if spouse is not None:
        spouse["wants_job_help"] = spouse.get("wants_job_help") == "on"
        if isinstance(spouse.get("skills"), str):
            spouse["skills"] = [s.strip() for s in spouse["skills"].split(",") if s.strip()]
    for child in household.get("children", []):
        if isinstance(child.get("languages"), str):
            child["languages"] = [s.strip() for s in child["languages"].split(",") if s.strip()]
    return data


def _at(data: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    node: Any = data
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


FORM_FIELDS = {
    *(f"newcomer.{f}" for f in ("full_name", "date_of_birth", "nationality", "preferred_language", "languages",
                                "arrival_date", "purpose_of_stay", "expected_stay_months", "email",
                                "contact_consent")),
    *(f"newcomer.address.{f}" for f in ("street", "house_number", "postcode", "city")),
    "cpr_number",
    *(f"household.spouse.{f}" for f in ("full_name", "date_of_birth", "highest_education", "occupation", "skills",
                                        "languages", "wants_job_help")),
}
_CHILD_FIELDS = ("full_name", "date_of_birth", "languages", "danish_level", "years_of_schooling")


def _form_fields(body: dict[str, Any]) -> set[str]:
    children = len(body.get("household", {}).get("children", []))
    return FORM_FIELDS | {f"household.children.{i}.{f}" for i in range(children) for f in _CHILD_FIELDS}


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/cases", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/cases")
async def case_list(request: Request, user: Borgerservice, store: StoreDep, pages: PagesDep,
                    audit: AuditDep) -> Response:
    cases = await store.recent_cases()
    await audit.record(user, AuditAction.READ, "case list", case_ids=[c["_id"] for c in cases], channel="page")
    return pages.render(request, "cases.html", cases=cases, query="")


@router.post("/cases/search")
async def search_cases(request: Request, user: Borgerservice, store: StoreDep, pages: PagesDep, audit: AuditDep,
                       q: Annotated[str, Form(max_length=200)] = "") -> Response:
    # A POST, so that a name or CPR number searched for never appears in a URL (history, logs, referrers).
    cases = await store.search_cases(q) if q.strip() else await store.recent_cases()
    await audit.record(user, AuditAction.READ, "case search", case_ids=[c["_id"] for c in cases], channel="page")
    return pages.render(request, "cases.html", cases=cases, query=q)


@router.get("/cases/new")
async def new_case_form(request: Request, user: Borgerservice, pages: PagesDep) -> Response:
    body = {"household": {"children": []}, "newcomer": {"address": {"city": "Herning"}}}
    return pages.render(request, "register.html", body=body, errors={}, idempotency_key=str(uuid.uuid4()),
                        **_choices())


@router.post("/cases/new")
async def register_from_form(request: Request, user: Borgerservice, store: StoreDep, settings: SettingsDep,
                             pages: PagesDep, audit: AuditDep) -> Response:
    form = await request.form()
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    body = registration_from_form(fields)
    # The form carries a key made when it was shown: a double click or a resubmitted page gives the same case.
    key = str(form.get("idempotency_key") or uuid.uuid4())
    try:
        registration = RegistrationCreate.model_validate(body)
    except ValidationError as exc:
        return pages.render(request, "register.html", status_code=422, body=body, idempotency_key=key,
                            errors=forms.field_errors(exc, _form_fields(body), language(request)), **_choices())
    problems = implausible(registration, settings)
    if problems:
        lang = language(request)
        errors = forms.located_errors(((p.loc, p.text(lang)) for p in problems), _form_fields(body))
        return pages.render(request, "register.html", status_code=422, body=body, idempotency_key=key,
                            errors=errors, **_choices())
    registered = await register(user, registration, key, store=store, settings=settings, audit=audit, channel="page")
    return RedirectResponse(f"/cases/{registered.case.case_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/cases/{case_id}")
async def case_page(case_id: uuid.UUID, request: Request, user: Borgerservice, store: StoreDep, settings: SettingsDep,
                    pages: PagesDep, audit: AuditDep) -> Response:
    case = await store.get_case(str(case_id))
    if case is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.")
    timeline = await store.timeline_of(str(case_id))
    await audit.record(user, AuditAction.READ, "case page", case_ids=[str(case_id)], channel="page")
    if case.get("erasure"):
        return pages.render(request, "erased.html", case=case, confirmations=await store.confirmations_of(str(case_id)),
                            expected=ERASING_SERVICES)
    plan = await store.plan_progress_of(str(case_id))
    return pages.render(request, "case.html", case=case, timeline=timeline, progress=domain.case_progress(timeline),
                        plan=domain.plan_overview(plan, datetime.now(UTC).date()) if plan else None,
                        arrival_published=await store.arrival_published(case),
                        letters_url=settings.welcome_pack_url, letter_languages=LETTER_LANGUAGES)


@router.post("/cases/{case_id}/erase")
async def erase_from_page(case_id: uuid.UUID, user: Borgerservice, store: StoreDep, settings: SettingsDep,
                          audit: AuditDep,
                          reason: Annotated[str, Form(min_length=3, max_length=1000)]) -> Response:
    try:
        await erase_case(store, settings, str(case_id), by=user.name, reason=reason.strip(),
                         basis=ErasureBasis.REQUEST)
    except CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.") from None
    await audit.record(user, AuditAction.ERASE, "registration", case_ids=[str(case_id)], channel="page")
    return RedirectResponse(f"/cases/{case_id}", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/cases/{case_id}/close")
async def close_from_page(case_id: uuid.UUID, user: Borgerservice, store: StoreDep, audit: AuditDep) -> Response:
    try:
        closed = await close_case(store, str(case_id), datetime.now(UTC), user.name)
    except CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No registration with this case id.") from None
    if closed:
        await audit.record(user, AuditAction.CHANGE, "registration closed", case_ids=[str(case_id)], channel="page")
    return RedirectResponse(f"/cases/{case_id}", status_code=status.HTTP_303_SEE_OTHER)
