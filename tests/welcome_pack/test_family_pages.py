"""The family's own pages against the real database: the sign-in link (single use, expiry, a new link, erasure,
refusals that look alike, tries bounded), the plan in the family's language with ticks, the children's intake
from school_intake's events, and a family that can only ever reach its own case."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.welcome_pack.app import create_app
from services.welcome_pack.family_pages import FAMILY_COOKIE
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.signin import digest
from shared.events import (
    FAMILY_PLAN_PROGRESSED,
    INTAKE_OFFER_ANSWERED,
    JOB_LEAD_STATUS_CHANGED,
    NEWCOMER_ERASED,
    SCHOOL_INTAKE_STATUS_CHANGED,
    SPOUSE_JOB_HELP_CHANGED,
    WELCOME_LETTER_GENERATED,
    ErasureBasis,
    JobLeadStatusChanged,
    NewcomerErased,
    SchoolIntakeStatusChanged,
)
from shared.notify import notification_id
from tests.apps import as_role, running
from tests.builders import arrival_event, child, registration
from tests.kafka_helpers import eventually, read_until_quiet
from tests.mailpit import mails_with


@pytest.fixture(scope="module")
async def service(infrastructure):
    settings = infrastructure.settings(WelcomePackSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_family_pages",
                                       sign_in_max_failures_per_client=1000)
    app = create_app(settings)
    async with running(app) as client:
        yield client, app


async def arrived(app, **overrides):
    event = arrival_event(registration(**overrides))
    await app.state.handlers.newcomer_arrived(event)
    return event, str(event.payload.case_id)


async def sign_in_path(app, case_id: str) -> str:
    url = await app.state.access.sign_in_url(case_id, datetime.now(UTC))
    assert url is not None
    return url.removeprefix(app.state.settings.welcome_pack_url)


async def signed_in(client, app, case_id: str) -> dict[str, str]:
    path = await sign_in_path(app, case_id)
    response = await client.post(path)
    assert response.status_code == 303 and response.headers["location"] == "/family", response.text
    cookie = response.cookies[FAMILY_COOKIE]
    client.cookies.clear()  # each test says which session it uses
    assert "httponly" in response.headers["set-cookie"].lower()
    return {"Cookie": f"{FAMILY_COOKIE}={cookie}"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


async def test_the_letter_carries_the_link_and_its_qr_code_and_only_the_hash_is_stored(service):
    client, app = service
    _, case_id = await arrived(app, preferred_language="ar")
    [letter] = await app.state.store.letters_of_case(case_id)
    html = (await client.get(f"/letters/{letter['_id']}", headers=as_role(app.state.settings, "borgerservice"))).text
    url = await app.state.access.sign_in_url(case_id, datetime.now(UTC))
    assert f'<bdi dir="ltr">{url}</bdi>' in html  # the link stays left-to-right in the Arabic letter
    assert 'src="data:image/svg+xml' in html
    code = url.rsplit("/", 1)[1]
    stored = await app.state.store.current_code(case_id)
    assert stored["code_hash"] == digest(code) and code not in str(stored)
    assert code not in str(await app.state.store.get_letter(letter["_id"]))  # the stored letter has no code


async def test_signing_in_spends_the_code_and_the_family_sees_its_plan_in_arabic(service):
    client, app = service
    _, case_id = await arrived(app, preferred_language="ar", children=[child("Lina Haddad", "2016-03-05")])
    path = await sign_in_path(app, case_id)
    asked = await client.get(path)  # a mail scanner's GET does not spend it
    assert asked.status_code == 200 and 'dir="rtl"' in asked.text and "تسجيل الدخول" in asked.text
    headers = await signed_in(client, app, case_id)
    page = await client.get("/family", headers=headers)
    assert page.status_code == 200 and '<html lang="ar" dir="rtl">' in page.text
    assert "خطتك" in page.text and "المدرسة لـ Lina" in page.text  # "Your plan", "School for Lina"
    again = await client.post(path)  # the code is spent
    wrong = await client.post(path[:-6] + "aaaaaa")
    assert again.status_code == wrong.status_code == 404 and again.text == wrong.text
    assert await app.state.access.sign_in_url(case_id, datetime.now(UTC)) is None  # no spent link is printed
    entries = await app.state.runtime.audit.query(case_id=case_id)
    assert {("family:" + case_id, "family plan")} <= {(e.actor, e.what) for e in entries}


async def test_a_family_ticks_a_step_and_switches_language(service):
    client, app = service
    _, case_id = await arrived(app, preferred_language="zh")
    headers = await signed_in(client, app, case_id)
    page = await client.get("/family", headers=headers)
    assert "您的计划" in page.text
    ticked = await client.post("/family/steps/tax_card", headers=headers,
                               data={"status": "done", "csrf": csrf_of(page.text)})
    assert ticked.status_code == 303
    states = await app.state.store.step_states_of(case_id, ["tax_card"])
    assert states["tax_card"]["status"] == "done" and states["tax_card"]["by"] == f"family:{case_id}"
    switched = await client.get("/family/language/da", headers=headers)
    headers_da = {**headers, "Cookie": headers["Cookie"] + "; " + switched.headers["set-cookie"].split(";")[0]}
    client.cookies.clear()
    danish = await client.get("/family", headers=headers_da)
    assert "Din plan" in danish.text and "Få dit skattekort" in danish.text


async def test_forms_need_the_token_and_steps_must_be_the_familys_own(service):
    client, app = service
    _, case_id = await arrived(app)
    headers = await signed_in(client, app, case_id)
    token = csrf_of((await client.get("/family", headers=headers)).text)
    no_token = await client.post("/family/steps/tax_card", headers=headers, data={"status": "done", "csrf": "x"})
    unknown = await client.post("/family/steps/school:7", headers=headers, data={"status": "done", "csrf": token})
    assert no_token.status_code == 403 and unknown.status_code == 404
    assert "This form is out of date." in no_token.text and "This page does not exist." in unknown.text
    _, other = await arrived(app)
    # Nothing in a URL names the case: another case's id cannot be asked for, and no other page exists.
    assert (await client.get(f"/family/{other}", headers=headers)).status_code == 404
    assert (await client.get(f"/cases/{other}/plan", headers=headers)).status_code == 401


async def test_without_a_session_the_family_is_told_to_use_its_letter(service):
    client, _ = service
    for path in ("/family", "/family/letter", "/family/letter.pdf"):
        response = await client.get(path, headers={"Accept": "text/html", "Cookie": f"{FAMILY_COOKIE}=forged"})
        assert response.status_code == 401 and "Sign in with the link in your letter." in response.text


async def test_an_expired_code_is_refused_like_a_wrong_one(service):
    client, app = service
    _, case_id = await arrived(app)
    path = await sign_in_path(app, case_id)
    stored = await app.state.store.current_code(case_id)
    await app.state.store.replace_code({**stored, "expires_at": datetime.now(UTC) - timedelta(seconds=1)})
    expired = await client.post(path)
    assert expired.status_code == 404 and "This link does not work." in expired.text


async def test_a_new_link_stops_the_old_one(service):
    client, app = service
    _, case_id = await arrived(app)
    old = await sign_in_path(app, case_id)
    staff = as_role(app.state.settings, "borgerservice")
    issued = await client.post(f"/cases/{case_id}/sign-in-link", headers=staff)
    assert issued.status_code == 303
    new = await sign_in_path(app, case_id)
    assert new != old
    assert (await client.post(old)).status_code == 404
    assert (await client.post(new)).status_code == 303
    entries = await app.state.runtime.audit.query(case_id=case_id)
    assert "new sign-in link" in {e.what for e in entries}


async def test_failed_tries_are_bounded_per_case(service):
    client, app = service
    _, case_id = await arrived(app)
    path = await sign_in_path(app, case_id)
    for _ in range(app.state.settings.sign_in_max_failures_per_case):
        assert (await client.post(path[:-4] + "zzzz")).status_code == 404
    refused = await client.post(path)  # even the right code, until the window has passed
    assert refused.status_code == 429
    assert await app.state.access.sign_in_url(case_id, datetime.now(UTC)) is not None  # and it is not spent


async def test_failed_tries_are_bounded_per_client(infrastructure):
    settings = infrastructure.settings(WelcomePackSettings, sign_in_max_failures_per_client=3,
                                       mongodb_database=f"test_{infrastructure.run_id}_family_client_limit")
    app = create_app(settings)
    async with running(app) as client:
        cases = [(await arrived(app))[1] for _ in range(4)]
        for case_id in cases[:3]:  # one wrong try on each of three cases
            assert (await client.post(f"/sign-in/{case_id}/wrongwrongwrong")).status_code == 404
        assert (await client.post(await sign_in_path(app, cases[3]))).status_code == 429


async def test_school_intake_events_show_the_childs_place_and_tick_its_step(service):
    client, app = service
    event, case_id = await arrived(app, children=[child("Lina Haddad", "2016-03-05")])
    headers = await signed_in(client, app, case_id)
    at = datetime.now(UTC)

    def changed(status: str, when: datetime):
        return SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
            case_id=event.payload.case_id, task_id=uuid.uuid4(), kind="district_school", unit_id="lindbjerg",
            unit_name="Lindbjergskolen", child_index=0, status=status, changed_by="school", changed_at=when),
            producer="school_intake", correlation_id=event.payload.case_id)

    placed = changed("placed", at)
    await app.state.handlers.school_intake_status_changed(placed)
    await app.state.handlers.school_intake_status_changed(changed("new", at - timedelta(minutes=5)))  # late, older
    await app.state.handlers.school_intake_status_changed(placed)  # redelivered
    page = (await client.get("/family", headers=headers)).text
    assert "Lindbjergskolen" in page and "Has a place" in page and "Waiting for the school" not in page
    states = await app.state.store.step_states_of(case_id, ["school:0"])
    assert states["school:0"]["status"] == "done" and states["school:0"]["by"] == "school_intake"
    hired = JOB_LEAD_STATUS_CHANGED.envelope(JobLeadStatusChanged(
        case_id=event.payload.case_id, lead_id=uuid.uuid4(), listing_id="L1", status="hired", changed_by="adviser",
        changed_at=at), producer="job_match", correlation_id=event.payload.case_id)
    await app.state.handlers.job_lead_status_changed(hired)
    states = await app.state.store.step_states_of(case_id, ["jobcenter_contact", "first_job"])
    assert {s["status"] for s in states.values()} == {"done"} and len(states) == 2


async def test_a_batch_of_intake_events_leaves_what_one_by_one_would(service):
    """The consumer hands a poll's events over at once: each child's newest status is kept (a late older one and
    a redelivery in the same batch change nothing), a case not arrived here yet is kept for its plan, and a v1
    event (no child) gets nothing."""
    client, app = service
    event, case_id = await arrived(app, children=[child("Lina Haddad", "2016-03-05"),
                                                  child("Omar Haddad", "2018-01-02")])
    stranger = arrival_event(registration())  # not arrived here yet: no plan
    at = datetime.now(UTC)

    def changed(arrival, status: str, when: datetime, child_index: int | None = 0):
        return SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
            case_id=arrival.payload.case_id, task_id=uuid.uuid4(), kind="district_school", unit_id="lindbjerg",
            unit_name="Lindbjergskolen", child_index=child_index, status=status, changed_by="school",
            changed_at=when), producer="school_intake", correlation_id=arrival.payload.case_id)

    placed = changed(event, "placed", at)
    batch = [changed(event, "new", at - timedelta(minutes=9)), placed, changed(event, "new", at - timedelta(minutes=5)),
             placed, changed(event, "new", at, child_index=1), changed(stranger, "placed", at),
             changed(event, "placed", at + timedelta(minutes=1), child_index=None)]
    await app.state.handlers.school_intake_statuses_changed(batch)
    intakes = {d["child_index"]: d["status"] for d in await app.state.store.intakes_of(
        case_id, ["0:district_school", "1:district_school"])}
    assert intakes == {0: "placed", 1: "new"}
    [kept] = await app.state.store.intakes_of(str(stranger.payload.case_id), ["0:district_school"])
    assert kept["status"] == "placed"
    states = await app.state.store.step_states_of(case_id, ["school:0", "school:1"])
    assert {k: v["status"] for k, v in states.items()} == {"school:0": "done"}


async def test_events_that_overtake_the_arrival_show_in_the_plan_once_it_is_handled(service):
    """school_intake and job_match can be faster than this service (or a backlog holds its arrival back): their
    events about a case it has not seen yet are kept, and the family's plan shows them when the arrival comes.
    Those of an erased case are not kept."""
    client, app = service
    event = arrival_event(registration(children=[child("Lina Haddad", "2016-03-05")]))
    case_id = str(event.payload.case_id)
    at = datetime.now(UTC) - timedelta(minutes=1)
    await app.state.handlers.school_intake_statuses_changed([SCHOOL_INTAKE_STATUS_CHANGED.envelope(
        SchoolIntakeStatusChanged(case_id=event.payload.case_id, task_id=uuid.uuid4(), kind="district_school",
                                  unit_id="lindbjerg", unit_name="Lindbjergskolen", child_index=0, status="placed",
                                  changed_by="school", changed_at=at),
        producer="school_intake", correlation_id=event.payload.case_id)])
    await app.state.handlers.job_lead_status_changed(JOB_LEAD_STATUS_CHANGED.envelope(JobLeadStatusChanged(
        case_id=event.payload.case_id, lead_id=uuid.uuid4(), listing_id="L1", status="hired", changed_by="adviser",
        changed_at=at), producer="job_match", correlation_id=event.payload.case_id))
    await app.state.handlers.newcomer_arrived(event)
    page = (await client.get("/family", headers=await signed_in(client, app, case_id))).text
    assert "Lindbjergskolen" in page and "Has a place" in page
    states = await app.state.store.step_states_of(case_id, ["school:0", "jobcenter_contact", "first_job"])
    assert {k: v["status"] for k, v in states.items()} == {"school:0": "done", "jobcenter_contact": "done",
                                                           "first_job": "done"}

    gone, gone_id = await arrived(app, children=[child("Omar Haddad", "2016-03-05")])
    await app.state.handlers.newcomer_erased(NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=gone.payload.case_id, basis=ErasureBasis.REQUEST, requested_at=datetime.now(UTC)),
        producer="registration", correlation_id=gone.payload.case_id))
    await app.state.handlers.school_intake_statuses_changed([SCHOOL_INTAKE_STATUS_CHANGED.envelope(
        SchoolIntakeStatusChanged(case_id=gone.payload.case_id, task_id=uuid.uuid4(), kind="district_school",
                                  unit_id="lindbjerg", unit_name="Lindbjergskolen", child_index=0, status="placed",
                                  changed_by="school", changed_at=at),
        producer="school_intake", correlation_id=gone.payload.case_id)])
    assert await app.state.store.intakes_of(gone_id, ["0:district_school"]) == []
    assert await app.state.store.step_states_of(gone_id, ["school:0"]) == {}


async def test_a_family_untick_after_an_event_stays(service):
    client, app = service
    event, case_id = await arrived(app, children=[child("Lina Haddad", "2016-03-05")])
    placed = SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
        case_id=event.payload.case_id, task_id=uuid.uuid4(), kind="district_school", unit_id="lindbjerg",
        unit_name="Lindbjergskolen", child_index=0, status="placed", changed_by="school",
        changed_at=datetime.now(UTC) - timedelta(minutes=1)), producer="school_intake",
        correlation_id=event.payload.case_id)
    await app.state.handlers.school_intake_status_changed(placed)
    await app.state.store.set_step_state(case_id, "school:0", "to_do", f"family:{case_id}", datetime.now(UTC))
    other = placed.model_copy(update={"event_id": uuid.uuid4()})  # another delivery of an older fact
    await app.state.handlers.school_intake_status_changed(other)
    assert (await app.state.store.step_states_of(case_id, ["school:0"]))["school:0"]["status"] == "to_do"


async def test_erasure_ends_every_session_and_code(service):
    client, app = service
    event, case_id = await arrived(app)
    headers = await signed_in(client, app, case_id)
    await app.state.access.issue_new(case_id, datetime.now(UTC), "test")
    path = await sign_in_path(app, case_id)
    assert (await client.get("/family", headers=headers)).status_code == 200
    page = (await client.get("/family", headers=headers)).text
    await client.post("/family/job-help", headers=headers, data={"job_help": "false", "csrf": csrf_of(page)})
    assert await app.state.store.job_help_choice(case_id, 0) is not None
    erased = NEWCOMER_ERASED.envelope(NewcomerErased(case_id=event.payload.case_id, basis=ErasureBasis.REQUEST,
                                                     requested_at=datetime.now(UTC)),
                                      producer="registration", correlation_id=event.payload.case_id)
    await app.state.handlers.newcomer_erased(erased)
    assert (await client.get("/family", headers=headers)).status_code == 401
    assert (await client.post(path)).status_code == 404
    for collection in ("sessions", "codes", "spent_codes", "step_states", "plans", "job_help"):
        store = getattr(app.state.store, collection)
        assert await store.count_documents({"$or": [{"case_id": case_id}, {"_id": case_id}]}) == 0, collection


async def test_borgerservice_follows_the_plan_and_ticks_for_the_family(service):
    client, app = service
    _, case_id = await arrived(app, children=[child("Lina Haddad", "2016-03-05")])
    staff = as_role(app.state.settings, "borgerservice")
    page = await client.get(f"/cases/{case_id}/plan", headers=staff)
    assert page.status_code == 200 and "Skole til Lina" in page.text and "Linket virker" in page.text
    ticked = await client.post(f"/cases/{case_id}/plan/steps/mitid", headers=staff, data={"status": "not_relevant"})
    assert ticked.status_code == 303
    page = await client.get(f"/cases/{case_id}/plan", headers=staff)
    assert re.search(r"Ikke relevante: <strong>1</strong>", page.text)
    assert (await client.post(f"/cases/{case_id}/plan/steps/nope", headers=staff,
                              data={"status": "done"})).status_code == 404
    school = as_role(app.state.settings, "school_staff", "lindbjerg")
    assert (await client.get(f"/cases/{case_id}/plan", headers=school)).status_code == 403
    assert (await client.get(f"/cases/{uuid.uuid4()}/plan", headers=staff)).status_code == 404


def intake_change(event, status: str, task_id: uuid.UUID, **fields):
    return SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
        case_id=event.payload.case_id, task_id=task_id, kind="reception_class", unit_id="braendgaard",
        unit_name="Brændgårdskolen", unit_address="Brændgårdvej 3, 7400 Herning", child_index=0, status=status,
        changed_by="system", changed_at=datetime.now(UTC), grade_band=(0, 2), **fields),
        producer="school_intake", correlation_id=event.payload.case_id)


async def test_the_family_sees_its_place_in_line_then_answers_the_offer_once(service, infrastructure):
    client, app = service
    event, case_id = await arrived(app, children=[child("Lina Haddad", "2019-03-05")])
    headers = await signed_in(client, app, case_id)
    task_id = uuid.uuid4()
    await app.state.handlers.school_intake_status_changed(intake_change(event, "waitlisted", task_id,
                                                                        waitlist_position=2))
    page = (await client.get("/family", headers=headers)).text
    assert "Number 2 in line for grades 0–2" in page and "Accept the place" not in page
    deadline = datetime.now(UTC).date() + timedelta(days=7)
    await app.state.handlers.school_intake_status_changed(intake_change(event, "offered", task_id,
                                                                        offer_deadline=deadline))
    page = (await client.get("/family", headers=headers)).text
    assert "A place is offered at Brændgårdskolen" in page and "Accept the place" in page
    assert '<bdi dir="ltr">Brændgårdvej 3, 7400 Herning</bdi>' in page
    form = {"answer": "accepted", "csrf": csrf_of(page)}
    answered = await client.post("/family/intakes/0/reception_class/answer", headers=headers, data=form)
    assert answered.status_code == 303
    again = await client.post("/family/intakes/0/reception_class/answer", headers=headers,
                              data={**form, "answer": "declined"})
    assert again.status_code == 303  # a repeated answer changes nothing
    answers = await app.state.store.answers_to([str(task_id)])
    assert answers[str(task_id)]["answer"] == "accepted"
    page = (await client.get("/family", headers=headers)).text
    assert "You accepted the place." in page and "Accept the place" not in page
    topic = app.state.settings.topic(INTAKE_OFFER_ANSWERED.topic)
    published = [INTAKE_OFFER_ANSWERED.parse(m.value).payload
                 for m in await read_until_quiet(infrastructure.kafka_bootstrap_servers, topic, at_least=1)]
    mine = [a for a in published if a.task_id == task_id]
    assert [(a.answer.value, str(a.case_id)) for a in mine] == [("accepted", case_id)]


async def test_an_offer_past_its_deadline_is_refused_in_the_familys_language(service):
    client, app = service
    event, case_id = await arrived(app, preferred_language="fr", children=[child("Lina Haddad", "2019-03-05")])
    headers = await signed_in(client, app, case_id)
    task_id = uuid.uuid4()
    await app.state.handlers.school_intake_status_changed(intake_change(
        event, "offered", task_id, offer_deadline=datetime.now(UTC).date() - timedelta(days=1)))
    page = (await client.get("/family", headers=headers)).text
    assert "Refuser la place" not in page  # no buttons on a lapsed offer
    late = await client.post("/family/intakes/0/reception_class/answer", headers=headers,
                             data={"answer": "declined", "csrf": csrf_of(page)})
    assert late.status_code == 409 and "Il n'est plus possible de répondre à cette offre." in late.text
    assert await app.state.store.answers_to([str(task_id)]) == {}
    other = await client.post("/family/intakes/3/daycare/answer", headers=headers,
                              data={"answer": "declined", "csrf": csrf_of(page)})
    assert other.status_code == 404


async def test_a_consenting_family_is_mailed_the_offer_once_in_its_language(service, infrastructure):
    client, app = service
    event, case_id = await arrived(app, preferred_language="de", email="familie@example.org", contact_consent=True,
                                   children=[child("Lina Haddad", "2019-03-05")])
    task_id = uuid.uuid4()
    offered = intake_change(event, "offered", task_id, offer_deadline=date(2027, 1, 8))
    await app.state.handlers.school_intake_status_changed(offered)
    await app.state.handlers.school_intake_status_changed(offered)  # redelivered
    message_id = f"{notification_id(f'family-offer:{task_id}')}@velkommen"

    async def delivered():
        return await mails_with(infrastructure.mailpit_url, message_id)

    [mail] = await eventually(delivered, timeout=20)
    assert mail["Subject"] == "Lina wird ein Schulplatz angeboten"
    assert [to["Address"] for to in mail["To"]] == ["familie@example.org"]
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{infrastructure.mailpit_url}/api/v1/message/{mail['ID']}")).json()
    assert "8. Januar 2027" in body["Text"] and "Brændgårdskolen" in body["Text"]
    assert "140587" not in body["Text"] + body["HTML"]


async def test_the_family_turns_job_help_off_and_on_again(service):
    client, app = service
    _, case_id = await arrived(app, preferred_language="de")
    headers = await signed_in(client, app, case_id)
    page = (await client.get("/family", headers=headers)).text
    assert "Die Jobhilfe ist eingeschaltet." in page and 'id="jobcenter_contact"' in page
    off = await client.post("/family/job-help", headers=headers, data={"job_help": "false", "csrf": csrf_of(page)})
    assert off.status_code == 303
    page = (await client.get("/family", headers=headers)).text
    assert "Die Jobhilfe ist ausgeschaltet." in page
    assert 'id="jobcenter_contact"' not in page and 'id="first_job"' not in page  # the plan follows at once
    again = await client.post("/family/job-help", headers=headers, data={"job_help": "false", "csrf": csrf_of(page)})
    assert again.status_code == 303  # asking for what is already so changes nothing
    on = await client.post("/family/job-help", headers=headers, data={"job_help": "true", "csrf": csrf_of(page)})
    assert on.status_code == 303
    assert 'id="jobcenter_contact"' in (await client.get("/family", headers=headers)).text
    changes = await app.state.store.job_help.find({"case_id": case_id}).sort("change", 1).to_list(None)
    assert [(c["change"], c["wants_job_help"]) for c in changes] == [(1, False), (2, True)]
    events = [SPOUSE_JOB_HELP_CHANGED.parse(next(iter(c["outbox"].values()))["value"].encode()) for c in changes]
    assert [(e.payload.change, e.payload.wants_job_help, str(e.payload.case_id)) for e in events] == [
        (1, False, case_id), (2, True, case_id)]
    entries = await app.state.runtime.audit.query(case_id=case_id)
    assert {"spouse job help off", "spouse job help on"} <= {e.what for e in entries if e.actor == f"family:{case_id}"}


async def test_job_help_needs_a_spouse_and_the_forms_token(service):
    client, app = service
    _, single = await arrived(app, with_spouse=False)
    headers = await signed_in(client, app, single)
    page = (await client.get("/family", headers=headers)).text
    assert 'action="/family/job-help"' not in page
    refused = await client.post("/family/job-help", headers=headers, data={"job_help": "false", "csrf": csrf_of(page)})
    assert refused.status_code == 404
    _, family = await arrived(app)
    headers = await signed_in(client, app, family)
    forged = await client.post("/family/job-help", headers=headers, data={"job_help": "false", "csrf": "x"})
    assert forged.status_code == 403
    assert await app.state.store.job_help.count_documents({"case_id": {"$in": [single, family]}}) == 0


async def test_a_second_change_meanwhile_keeps_the_first_and_the_hint_catches_up(service):
    client, app = service
    _, case_id = await arrived(app)
    store = app.state.store
    # A change written by another request whose hint never landed (it died between the two writes).
    assert await store.job_help.insert_one({"_id": f"{case_id}:1", "case_id": case_id, "change": 1,
                                            "wants_job_help": False, "at": datetime.now(UTC)})
    assert (await store.job_help_choice(case_id, 0))["change"] == 1
    assert not await store.add_job_help_change({"_id": f"{case_id}:1", "case_id": case_id, "change": 1,
                                                "wants_job_help": True, "at": datetime.now(UTC)})
    headers = await signed_in(client, app, case_id)
    page = (await client.get("/family", headers=headers)).text
    assert "Job help is off." in page
    await client.post("/family/job-help", headers=headers, data={"job_help": "true", "csrf": csrf_of(page)})
    assert (await store.job_help_choice(case_id, 0))["change"] == 2
    assert (await store.plan(case_id))["job_help_change"] == 2


async def progress_reports(app, case_id: str) -> list:
    docs = await app.state.store.progress_reports.find({"case_id": case_id}).sort("at", 1).to_list(None)
    return [FAMILY_PLAN_PROGRESSED.parse(next(iter(d["outbox"].values()))["value"].encode()).payload for d in docs]


async def test_every_change_of_the_plan_is_reported_once_for_the_case_page(service):
    client, app = service
    event, case_id = await arrived(app, children=[child("Lina Haddad", "2016-03-05")])
    [letter] = await app.state.store.letters_of_case(case_id)
    stored = await app.state.store.letters.find_one({"_id": letter["_id"]})
    started = WELCOME_LETTER_GENERATED.parse(next(iter(stored["outbox"].values()))["value"].encode()).payload.plan
    assert started.done == 0 and started.steps == len(started.open_due) > 5  # the plan as it starts
    headers = await signed_in(client, app, case_id)
    page = (await client.get("/family", headers=headers)).text
    await client.post("/family/steps/tax_card", headers=headers, data={"status": "done", "csrf": csrf_of(page)})
    staff = as_role(app.state.settings, "borgerservice")
    await client.post(f"/cases/{case_id}/plan/steps/mitid", headers=staff, data={"status": "not_relevant"})
    placed = SCHOOL_INTAKE_STATUS_CHANGED.envelope(SchoolIntakeStatusChanged(
        case_id=event.payload.case_id, task_id=uuid.uuid4(), kind="district_school", unit_id="lindbjerg",
        unit_name="Lindbjergskolen", child_index=0, status="placed", changed_by="school",
        changed_at=datetime.now(UTC)), producer="school_intake", correlation_id=event.payload.case_id)
    await app.state.handlers.school_intake_status_changed(placed)
    await app.state.handlers.school_intake_status_changed(placed)  # redelivered: reported once
    reports = await progress_reports(app, case_id)
    assert [(r.plan.done, r.plan.not_relevant) for r in reports] == [(1, 0), (1, 1), (2, 1)]
    assert all(r.plan.steps == started.steps for r in reports)
    assert len(reports[-1].plan.open_due) == started.steps - 3
