"""What every service's staff pages share: the layout, Danish/English text, login, CSRF tokens, error pages.

Texts are written in both languages where they are used — `{{ t("Sager", "Cases") }}` — so a page
template is read in one place; the language comes from a cookie set by the toggle in the header (Danish default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from shared.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    STAFF_ROLES,
    DevIssuer,
    Principal,
    Role,
    csrf_token_for,
    current_principal,
)
from shared.error_texts import staff_error_text
from shared.settings import ServiceSettings

SHARED_DIR = Path(__file__).parent
LANG_COOKIE = "velkommen_lang"
LANGUAGES = ("da", "en")

# Which service's pages each role works in (the navigation shows only those).
NAVIGATION: dict[str, tuple[str, str, str, frozenset[Role]]] = {
    "registration": ("registration_url", "Sager", "Cases", frozenset({Role.BORGERSERVICE})),
    "school_intake": ("school_intake_url", "Skoleindskrivning", "School intake", frozenset({Role.SCHOOL_STAFF})),
    "job_match": ("job_match_url", "Jobforslag", "Job leads", frozenset({Role.JOBCENTER_ADVISER})),
}


# Codes shown to staff (statuses, task kinds, purposes), in Danish and English; unknown codes are shown as they are.
LABELS: dict[str, tuple[str, str]] = {
    "new": ("ny", "new"), "waitlisted": ("venteliste", "waitlisted"), "offered": ("plads tilbudt", "place offered"),
    "acknowledged": ("kvitteret", "acknowledged"),
    "meeting_scheduled": ("møde aftalt", "meeting scheduled"), "placed": ("indskrevet", "placed"),
    "declined": ("afvist", "declined"), "redirected": ("henvist", "redirected"), "generated": ("dannet", "generated"),
    "contacted": ("kontaktet", "contacted"), "applied": ("har søgt", "applied"), "hired": ("ansat", "hired"),
    "not_relevant": ("ikke relevant", "not relevant"),
    "withdrawn": ("trukket tilbage af familien", "withdrawn by the family"),
    "reception_class": ("modtageklasse", "reception class"), "district_school": ("distriktsskole", "district school"),
    "daycare": ("dagtilbud", "daycare"), "language_assessment": ("sprogvurdering", "language assessment"),
    "youth_guidance": ("ungevejledning", "youth guidance"),
    "work": ("arbejde", "work"), "study": ("studie", "study"),
    "family_reunification": ("familiesammenføring", "family reunification"), "refugee": ("flygtning", "refugee"),
    "eu_eea_citizen": ("EU/EØS-borger", "EU/EEA citizen"), "other": ("andet", "other"),
    "none": ("ingen", "none"), "basic": ("lidt", "basic"), "good": ("godt", "good"), "native": ("modersmål", "native"),
    "primary": ("grundskole", "primary school"), "upper_secondary": ("gymnasial", "upper secondary"),
    "vocational": ("erhvervsuddannelse", "vocational"), "short_cycle": ("kort videregående", "short-cycle higher"),
    "bachelor": ("bachelor", "bachelor"), "master": ("kandidat", "master"), "doctorate": ("ph.d.", "doctorate"),
}


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "da")
    return lang if lang in LANGUAGES else "da"


class StaffPages:
    """Renders a service's page templates inside the shared layout."""

    def __init__(self, settings: ServiceSettings, templates_dir: Path | None = None):
        self.settings = settings
        loaders = [FileSystemLoader(templates_dir)] if templates_dir else []
        self.env = Environment(loader=ChoiceLoader([*loaders, FileSystemLoader(SHARED_DIR / "templates")]),
                               autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)

    def home_of(self, roles: frozenset[Role]) -> str:
        """The page a role starts on (admins: the audit trail of this service)."""
        for url_setting, _da, _en, allowed in NAVIGATION.values():
            if roles & allowed:
                return getattr(self.settings, url_setting) + "/"
        return "/audit"

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = language(request)
        principal: Principal | None = getattr(request.state, "principal", None)
        session = request.cookies.get(SESSION_COOKIE)
        nav = [
            {"url": getattr(self.settings, url_setting) + "/", "label": da if lang == "da" else en,
             "current": service == self.settings.service_name}
            for service, (url_setting, da, en, roles) in NAVIGATION.items()
            if principal is not None and principal.roles & roles
        ]

        def label(code: object) -> str:
            return LABELS.get(str(code), (str(code), str(code)))[0 if lang == "da" else 1]

        html = self.env.get_template(template).render(
            request=request, lang=lang, t=lambda da, en: da if lang == "da" else en, principal=principal,
            label=label, labelled=lambda codes: [(str(c), label(c)) for c in codes],
            csrf_field=CSRF_FIELD, csrf_token=csrf_token_for(session) if session else "", nav=nav,
            service=self.settings.service_name, dev_login=self.settings.auth_dev_issuer, **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def error(self, request: Request, exc: HTTPException) -> HTMLResponse:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            return self.render(request, "login.html", status_code=401, roles=list(STAFF_ROLES),
                               next_url=_local(request.url.path))
        return self.render(request, "error.html", status_code=exc.status_code,
                           detail=staff_error_text(exc.detail, exc.status_code, language(request)))


def _local(url: str | None) -> str:
    """Only a path on this site: a login link must not send anyone elsewhere (open redirect)."""
    if not url:
        return "/"
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//") else "/"


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def login_router(pages: StaffPages) -> APIRouter:
    """Login (the development issuer's role picker), logout and the language toggle; mounted by every service."""
    router = APIRouter(include_in_schema=False)
    settings = pages.settings

    @router.get("/login")
    async def login_page(request: Request, next: str = "/") -> Response:
        request.state.principal = await current_principal(request)
        return pages.render(request, "login.html", roles=list(STAFF_ROLES), next_url=_local(next))

    @router.post("/login")
    async def login(role: Annotated[Role, Form()], name: Annotated[str, Form(max_length=100)] = "",
                    school_id: Annotated[str, Form(max_length=100)] = "",
                    next: Annotated[str, Form(max_length=500)] = "/") -> Response:
        if not settings.auth_dev_issuer:
            # Production logins go through the municipality's identity broker, which sets the bearer token.
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Development login is switched off.")
        if role not in STAFF_ROLES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                "Families sign in with the link in their letter.")
        if role is Role.SCHOOL_STAFF and not school_id.strip():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "School staff must give their school id.")
        token = DevIssuer(settings.auth_dev_key_file).token(
            role, audience=settings.auth_audience, name=name.strip() or None, school_id=school_id.strip() or None)
        target = _local(next)
        if target == "/":
            target = pages.home_of(frozenset({role}))
        response = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.session_cookie_secure,
                            max_age=8 * 3600)
        return response

    @router.post("/logout")
    async def logout() -> Response:
        # No CSRF check needed: logging someone out is harmless, and it must work with an expired session.
        response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @router.get("/language/{lang}")
    async def switch_language(lang: str, request: Request) -> Response:
        back = request.headers.get("referer", "/")
        response = RedirectResponse(back if urlsplit(back).netloc == request.url.netloc else "/",
                                    status_code=status.HTTP_303_SEE_OTHER)
        response.set_cookie(LANG_COOKIE, lang if lang in LANGUAGES else "da", samesite="lax", max_age=365 * 86400)
        return response

    return router


def static_files() -> StaticFiles:
    return StaticFiles(directory=SHARED_DIR / "static")
