"""Who may do what: every endpoint × every role gives exactly 401 / 403 / 404 / 2xx as specified in #6.

The four services run in-process against the real database and broker; tokens come from the dev issuer.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

import pytest

from services.job_match.app import create_app as job_match_app
from services.job_match.settings import JobMatchSettings
from services.registration.app import create_app as registration_app
from services.registration.settings import RegistrationSettings
from services.school_intake.app import create_app as school_intake_app
from services.school_intake.settings import SchoolIntakeSettings
from services.welcome_pack.app import create_app as welcome_pack_app
from services.welcome_pack.family_pages import FAMILY_COOKIE
from services.welcome_pack.settings import WelcomePackSettings
from shared.auth import SESSION_COOKIE, DevIssuer, csrf_token_for
from tests.apps import as_role, running
from tests.builders import arrival_event, child, registration

# "family" is the signed-in family of the test case (welcome_pack's sign-in link), "other_family" another case's.
ROLES = ("anonymous", "borgerservice", "school_staff", "other_school_staff", "jobcenter_adviser", "admin", "family",
         "other_family")


@pytest.fixture(scope="module")
async def system(infrastructure):
    """The four apps, a case registered through the API, and its letter, intake task and job leads."""
    apps = {
        "registration": registration_app(infrastructure.settings(RegistrationSettings)),
        "welcome_pack": welcome_pack_app(infrastructure.settings(WelcomePackSettings)),
        "school_intake": school_intake_app(infrastructure.settings(SchoolIntakeSettings)),
        "job_match": job_match_app(infrastructure.settings(JobMatchSettings)),
    }
    async with contextlib.AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(running(app)) for name, app in apps.items()}
        settings = apps["registration"].state.settings
        body = registration(children=[child("Lina Haddad", "2015-03-05", "good")])
        created = await clients["registration"].post("/registrations", json=body,
                                                     headers=as_role(settings, "borgerservice"))
        assert created.status_code == 201, created.text
        case_id = uuid.UUID(created.json()["case_id"])
        event = arrival_event(body, case_id=case_id)
        ws, si = apps["welcome_pack"].state, apps["school_intake"].state
        await ws.handlers.newcomer_arrived(event)
        await si.handlers.newcomer_arrived(event)
        [letter] = await ws.store.letters_of_case(str(case_id))
        [task] = await si.store.tasks_of_case(str(case_id))
        other = arrival_event(registration(children=[child("Noor Other", "2016-01-01")]))
        await ws.handlers.newcomer_arrived(other)
        families = {name: await _family_cookie(clients["welcome_pack"], ws, str(case))
                    for name, case in (("family", case_id), ("other_family", other.payload.case_id))}
        yield {"apps": apps, "clients": clients, "case_id": str(case_id), "letter_id": letter["_id"],
               "task_id": task["_id"], "school_id": task["unit_id"], "settings": settings, "families": families}


async def _family_cookie(client, state, case_id: str) -> dict[str, str]:
    url = await state.access.sign_in_url(case_id, datetime.now(UTC))
    response = await client.post(url.removeprefix(state.settings.welcome_pack_url))
    assert response.status_code == 303
    client.cookies.clear()
    return {"Cookie": f"{FAMILY_COOKIE}={response.cookies[FAMILY_COOKIE]}"}


def headers_for(system, role: str) -> dict[str, str]:
    settings = system["settings"]
    if role == "anonymous":
        return {}
    if role in ("family", "other_family"):
        return system["families"][role]
    if role == "school_staff":
        return as_role(settings, "school_staff", system["school_id"])
    if role == "other_school_staff":
        other = "lindbjerg" if system["school_id"] != "lindbjerg" else "herningsholm"
        return as_role(settings, "school_staff", other)
    return as_role(settings, role)


# (service, method, path template, json body, expected status for each role in ROLES order)
#                                                              anon bs   school other job  admin family other
MATRIX = [
    ("registration", "GET", "/registrations/{case_id}", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("registration", "POST", "/registrations", "body", (401, 201, 403, 403, 403, 403, 401, 401)),
    ("registration", "GET", "/cases", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("registration", "GET", "/cases/{case_id}", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("registration", "GET", "/registrations/{case_id}/timeline", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("registration", "POST", "/registrations/{case_id}/close", None, (401, 204, 403, 403, 403, 403, 401, 401)),
    ("registration", "DELETE", "/registrations/{random}", {"reason": "access test"},
     (401, 404, 403, 403, 403, 403, 401, 401)),
    ("registration", "GET", "/registrations/{random}/erasure", None, (401, 404, 403, 403, 403, 403, 401, 401)),
    ("registration", "GET", "/audit", None, (401, 403, 403, 403, 403, 200, 401, 401)),
    ("welcome_pack", "GET", "/letters?case_id={case_id}", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("welcome_pack", "GET", "/letters/{letter_id}", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("welcome_pack", "GET", "/letters/{letter_id}/view", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("welcome_pack", "GET", "/audit", None, (401, 403, 403, 403, 403, 200, 401, 401)),
    ("welcome_pack", "GET", "/cases/{case_id}/plan", None, (401, 200, 403, 403, 403, 403, 401, 401)),
    ("welcome_pack", "POST", "/cases/{random}/sign-in-link", None, (401, 404, 403, 403, 403, 403, 401, 401)),
    # The family's pages: the case comes from the session, so each family gets its own (see the test below).
    ("welcome_pack", "GET", "/family", None, (401, 401, 401, 401, 401, 401, 200, 200)),
    ("welcome_pack", "GET", "/family/letter", None, (401, 401, 401, 401, 401, 401, 200, 200)),
    ("welcome_pack", "GET", "/family/letter.pdf", None, (401, 401, 401, 401, 401, 401, 200, 200)),
    # The family's forms: no staff token reaches them; a family's post without its form's fields is refused (422).
    ("welcome_pack", "POST", "/family/job-help", None, (401, 401, 401, 401, 401, 401, 422, 422)),
    ("welcome_pack", "POST", "/family/steps/tax_card", None, (401, 401, 401, 401, 401, 401, 422, 422)),
    ("welcome_pack", "GET", "/sign-in/{case_id}/not-the-code", None, (200,) * 8),
    # A wrong code is 404 for anyone; after SIGN_IN_MAX_FAILURES_PER_CASE (5) wrong tries the case refuses more.
    ("welcome_pack", "POST", "/sign-in/{case_id}/not-the-code", None, (404, 404, 404, 404, 404, 429, 429, 429)),
    ("school_intake", "GET", "/intake-tasks", None, (401, 403, 200, 200, 403, 403, 401, 401)),
    ("school_intake", "GET", "/intake-tasks/{task_id}", None, (401, 403, 200, 404, 403, 403, 401, 401)),
    ("school_intake", "POST", "/intake-tasks/{task_id}/transitions", {"to": "declined", "reason": "test of access"},
     (401, 403, 409, 404, 403, 403, 401, 401)),
    ("school_intake", "GET", "/", None, (401, 403, 200, 200, 403, 403, 401, 401)),
    ("school_intake", "GET", "/schools", None, (401, 200, 200, 200, 200, 200, 401, 401)),
    ("school_intake", "GET", "/audit", None, (401, 403, 403, 403, 403, 200, 401, 401)),
    ("job_match", "GET", "/leads?case_id={case_id}", None, (401, 403, 403, 403, 200, 403, 401, 401)),
    ("job_match", "GET", "/", None, (401, 403, 403, 403, 200, 403, 401, 401)),
    ("job_match", "POST", "/leads/{random}/transitions", {"to": "contacted"}, (401, 403, 403, 403, 404, 403, 401, 401)),
    ("job_match", "POST", "/listings/import", [], (401, 403, 403, 403, 200, 200, 401, 401)),
    ("job_match", "GET", "/audit", None, (401, 403, 403, 403, 403, 200, 401, 401)),
]
for _service in ("registration", "welcome_pack", "school_intake", "job_match"):
    MATRIX += [(_service, "GET", "/healthz", None, (200,) * 8), (_service, "GET", "/readyz", None, (200,) * 8)]


@pytest.mark.parametrize("service,method,path,body,expected", MATRIX,
                         ids=[f"{m} {s}{p}" for s, m, p, _, _ in MATRIX])
async def test_role_matrix(system, service, method, path, body, expected):
    url = path.format(case_id=system["case_id"], letter_id=system["letter_id"], task_id=system["task_id"],
                      random=uuid.uuid4())
    got = []
    for role in ROLES:
        json_body = registration() if body == "body" else body
        if service == "school_intake" and "transitions" in path and role == "school_staff":
            json_body = {"to": "placed"}  # not allowed from "new": 409 proves the request got past access control
        system["clients"][service].cookies.clear()  # only the credentials this role has
        response = await system["clients"][service].request(method, url, json=json_body,
                                                             headers=headers_for(system, role))
        got.append(response.status_code)
    assert tuple(got) == expected, dict(zip(ROLES, got, strict=True))


async def test_each_family_sees_only_its_own_case(system):
    client = system["clients"]["welcome_pack"]
    own = await client.get("/family", headers=system["families"]["family"])
    other = await client.get("/family", headers=system["families"]["other_family"])
    assert "Lina" in own.text and "Noor" not in own.text
    assert "Noor" in other.text and "Lina" not in other.text


async def test_a_tampered_expired_or_foreign_token_is_401(system):
    client, settings = system["clients"]["registration"], system["settings"]
    url = f"/registrations/{system['case_id']}"
    good = as_role(settings, "borgerservice")["Authorization"]
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    expired = DevIssuer(settings.auth_dev_key_file).token("borgerservice", audience=settings.auth_audience,
                                                         lifetime_seconds=-120)
    wrong_audience = DevIssuer(settings.auth_dev_key_file).token("borgerservice", audience="another-system")
    for header in (tampered, f"Bearer {expired}", f"Bearer {wrong_audience}", "Bearer not-a-jwt", "Basic abc"):
        response = await client.get(url, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_school_staff_token_without_a_school_is_refused(system):
    response = await system["clients"]["school_intake"].get("/intake-tasks",
                                                           headers=as_role(system["settings"], "school_staff"))
    assert response.status_code == 403


async def test_every_read_of_personal_data_is_audited_and_admins_can_query_it(system):
    client, settings = system["clients"]["registration"], system["settings"]
    reader = as_role(settings, "borgerservice", name="Auditor Test")
    assert (await client.get(f"/registrations/{system['case_id']}", headers=reader)).status_code == 200
    entries = (await client.get("/audit", params={"case_id": system["case_id"]},
                                headers=as_role(settings, "admin"))).json()
    mine = [e for e in entries if e["actor_name"] == "Auditor Test"]
    assert len(mine) == 1
    assert mine[0]["action"] == "read" and mine[0]["role"] == "borgerservice"
    assert mine[0]["case_ids"] == [system["case_id"]] and mine[0]["service"] == "registration"

    school = system["clients"]["school_intake"]
    staff = as_role(settings, "school_staff", system["school_id"], name="Teacher Audit")
    assert (await school.get(f"/intake-tasks/{system['task_id']}", headers=staff)).status_code == 200
    trail = (await school.get("/audit", params={"case_id": system["case_id"]}, headers=as_role(settings,
                                                                                               "admin"))).json()
    assert [e["what"] for e in trail if e["actor_name"] == "Teacher Audit"] == ["intake task"]


async def test_the_audit_trail_has_no_way_to_change_it(system):
    client = system["clients"]["registration"]
    admin = as_role(system["settings"], "admin")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/audit", headers=admin)).status_code == 405


async def test_a_form_post_with_the_session_cookie_needs_the_csrf_token(system):
    client, settings = system["clients"]["job_match"], system["settings"]
    session = DevIssuer(settings.auth_dev_key_file).token("jobcenter_adviser", audience=settings.auth_audience)
    leads = (await client.get("/leads", params={"case_id": system["case_id"]},
                              headers=as_role(settings, "jobcenter_adviser"))).json()
    assert leads, "the test family's spouse should have leads"
    lead_id = leads[0]["lead_id"]
    cookies = {"Cookie": f"{SESSION_COOKIE}={session}"}
    forged = await client.post(f"/leads/{lead_id}/notes/new", data={"text": "forged"}, headers=cookies)
    assert forged.status_code == 403
    wrong = await client.post(f"/leads/{lead_id}/notes/new", data={"text": "forged", "csrf_token": "0" * 64},
                              headers=cookies)
    assert wrong.status_code == 403
    ok = await client.post(f"/leads/{lead_id}/notes/new",
                           data={"text": "called her", "csrf_token": csrf_token_for(session)}, headers=cookies)
    assert ok.status_code == 303
    notes = (await client.get("/leads", params={"case_id": system["case_id"]},
                              headers=as_role(settings, "jobcenter_adviser"))).json()[0]["notes"]
    assert [n["text"] for n in notes] == ["called her"]


async def test_pages_ask_a_browser_to_log_in_and_carry_security_headers(system):
    client = system["clients"]["registration"]
    page = await client.get("/cases", headers={"Accept": "text/html"})
    assert page.status_code == 401
    assert 'action="/login"' in page.text
    headers = page.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    api = await client.get("/cases")
    assert api.status_code == 401 and api.json()["detail"].startswith("Log in")


async def test_dev_login_sets_a_session_cookie_and_only_local_redirects(system):
    client = system["clients"]["registration"]
    response = await client.post("/login", data={"role": "borgerservice", "name": "Bo", "next": "https://evil.example/"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(system["settings"].registration_url)
    assert SESSION_COOKIE in response.cookies
    assert "httponly" in response.headers["set-cookie"].lower()
    school = await client.post("/login", data={"role": "school_staff", "next": "/"})
    assert school.status_code == 422
