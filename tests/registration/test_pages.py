"""Borgerservice's pages: the household form (errors beside fields, one case per form), search, the timeline."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from services.registration import domain
from services.registration.app import create_app
from services.registration.pages import registration_from_form
from services.registration.settings import RegistrationSettings
from shared.auth import SESSION_COOKIE, DevIssuer, csrf_token_for
from shared.events import JOB_LEADS_FOUND, FoundLead, JobLeadsFound
from tests.apps import running
from tests.builders import RECENT_ARRIVAL
from tests.registration.test_domain import _events

FAMILY = [
    ("newcomer.full_name", "Priya Raman"), ("newcomer.date_of_birth", "1990-04-02"), ("cpr_number", "020490-1234"),
    ("newcomer.nationality", "IN"), ("newcomer.preferred_language", "en"), ("newcomer.languages", "ta native, en C1"),
    ("newcomer.arrival_date", RECENT_ARRIVAL), ("newcomer.purpose_of_stay", "work"),
    ("newcomer.expected_stay_months", "36"),
    ("newcomer.address.street", "Østergade"), ("newcomer.address.house_number", "5"),
    ("newcomer.address.postcode", "7400"), ("newcomer.address.city", "Herning"),
    ("household.has_spouse", "on"), ("household.spouse.full_name", "Arun Raman"),
    ("household.spouse.date_of_birth", "1988-01-20"), ("household.spouse.highest_education", "bachelor"),
    ("household.spouse.occupation", "software developer"), ("household.spouse.skills", "Python, SQL"),
    ("household.spouse.languages", "en C1"), ("household.spouse.wants_job_help", "on"),
    ("household.children.0.full_name", "Meera Raman"), ("household.children.0.date_of_birth", "2016-08-01"),
    ("household.children.0.languages", "ta, en"), ("household.children.0.danish_level", "none"),
    ("household.children.2.full_name", "Kavin Raman"), ("household.children.2.date_of_birth", "2023-02-11"),
    ("household.children.2.danish_level", "none"),
]


def test_the_form_becomes_a_registration_body():
    body = registration_from_form(FAMILY)
    assert body["newcomer"]["languages"] == [{"language": "ta", "level": "native"}, {"language": "en", "level": "C1"}]
    assert body["household"]["spouse"]["skills"] == ["Python", "SQL"] and body["household"]["spouse"]["wants_job_help"]
    assert [c["full_name"] for c in body["household"]["children"]] == ["Meera Raman", "Kavin Raman"]
    assert body["household"]["children"][0]["languages"] == ["ta", "en"]
    without_spouse = registration_from_form([f for f in FAMILY if f[0] != "household.has_spouse"])
    assert "spouse" not in without_spouse["household"]


async def post_form(client, url, fields):
    """A form post as a browser sends it (repeated and ordered fields, urlencoded)."""
    return await client.post(url, content=urlencode(fields),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.fixture(scope="module")
async def browser(infrastructure):
    """A client that behaves like a logged-in browser: session cookie, CSRF token in forms, HTML accepted."""
    settings = infrastructure.settings(RegistrationSettings)
    app = create_app(settings)
    session = DevIssuer(settings.auth_dev_key_file).token("borgerservice", audience=settings.auth_audience,
                                                          name="Bo Borgerservice")
    async with running(app) as client:
        client.headers.update({"Cookie": f"{SESSION_COOKIE}={session}", "Accept": "text/html"})
        client.csrf = csrf_token_for(session)
        client.app = app
        yield client


async def test_a_household_registered_through_the_form_is_one_case_even_if_sent_twice(browser):
    key = str(uuid.uuid4())
    form = [*FAMILY, ("csrf_token", browser.csrf), ("idempotency_key", key)]
    first = await post_form(browser, "/cases/new", form)
    assert first.status_code == 303, first.text
    again = await post_form(browser, "/cases/new", form)
    assert again.headers["location"] == first.headers["location"]
    page = await browser.get(first.headers["location"])
    assert page.status_code == 200
    for shown in ("Priya Raman", "Arun Raman", "Meera Raman", "Kavin Raman", "020490-1234"):
        assert shown in page.text


async def test_form_errors_are_shown_beside_their_fields_and_nothing_is_stored(browser):
    before = await browser.app.state.store.cases.count_documents({})
    bad = [(k, {"newcomer.address.postcode": "74", "newcomer.full_name": ""}.get(k, v)) for k, v in FAMILY]
    response = await post_form(browser, "/cases/new", [*bad, ("csrf_token", browser.csrf),
                                                      ("idempotency_key", str(uuid.uuid4()))])
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="newcomer-address-postcode"[^>]*aria-invalid="true"', html, re.S)
    assert 'id="newcomer-address-postcode-error"' in html and 'id="newcomer-full_name-error"' in html
    assert 'value="Arun Raman"' in html  # what was typed is kept
    assert await browser.app.state.store.cases.count_documents({}) == before


async def test_implausible_dates_are_shown_beside_their_fields_in_danish(browser):
    before = await browser.app.state.store.cases.count_documents({})
    bad = [(k, {"household.children.0.date_of_birth": "1980-01-01", "newcomer.date_of_birth": "1850-01-01"}.get(k, v))
           for k, v in FAMILY]
    response = await post_form(browser, "/cases/new", [*bad, ("csrf_token", browser.csrf),
                                                      ("idempotency_key", str(uuid.uuid4()))])
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="newcomer-date_of_birth-error">Fødselsdatoen skal ligge efter 1\. januar 1900\.<', html)
    assert re.search(r'id="household-children-0-date_of_birth-error">Barnet er 18 år eller ældre', html)
    assert "register them" not in html  # no English on the Danish page
    assert await browser.app.state.store.cases.count_documents({}) == before


async def test_search_is_a_post_and_finds_by_name_and_cpr(browser):
    await post_form(browser, "/cases/new", [*FAMILY, ("csrf_token", browser.csrf), ("idempotency_key", "search-1")])
    for query in ("priya", "020490-1234", "0204901234"):
        found = await post_form(browser, "/cases/search", [("q", query), ("csrf_token", browser.csrf)])
        assert found.status_code == 200 and "Priya Raman" in found.text, query
    nothing = await post_form(browser, "/cases/search", [("q", "nobody-by-this-name"), ("csrf_token", browser.csrf)])
    assert "Priya Raman" not in nothing.text


async def test_the_case_page_shows_what_the_other_services_reported_once(browser):
    created = await post_form(browser, "/cases/new", [*FAMILY, ("csrf_token", browser.csrf),
                                                     ("idempotency_key", str(uuid.uuid4()))])
    case_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[1])
    events = _events(case_id)
    store = browser.app.state.store
    await browser.app.state.handlers.downstream_events(events)
    await browser.app.state.handlers.downstream_events(events)  # redelivered: nothing doubles
    assert len(await store.timeline_of(str(case_id))) == len(events)
    page = (await browser.get(f"/cases/{case_id}")).text
    assert "Brejning Skole" in page and 'data-status="acknowledged">kvitteret' in page
    assert re.search(r'id="job-leads">\s*2 ', page)


async def test_the_leads_found_are_one_document_and_each_lead_one_line_whatever_was_stored_before(browser):
    store = browser.app.state.store
    case_id = uuid.uuid4()
    leads = [FoundLead(lead_id=uuid.uuid4(), listing_id=f"L{i}") for i in range(10)]
    found = JOB_LEADS_FOUND.envelope(JobLeadsFound(case_id=case_id, found_at=datetime.now(UTC), leads=leads),
                                     producer="job_match", correlation_id=case_id)
    await browser.app.state.handlers.downstream_events([found])
    await browser.app.state.handlers.downstream_events([found])  # redelivered
    assert await store.timeline.count_documents({"case_id": str(case_id)}) == 1
    lines = await store.timeline_of(str(case_id))
    assert [(line.record_id, line.status, line.detail["listing_id"]) for line in lines] == [
        (str(lead.lead_id), "new", lead.listing_id) for lead in leads]
    assert [line.event_id for line in lines] == [line.event_id for line in domain.timeline_entries(found)]
    # Stored line by line before (one document per lead), then redelivered: each lead still shows once.
    earlier = uuid.uuid4()
    old = JOB_LEADS_FOUND.envelope(JobLeadsFound(case_id=earlier, found_at=datetime.now(UTC), leads=leads[:3]),
                                   producer="job_match", correlation_id=earlier)
    await store.timeline.insert_many([{"_id": str(line.event_id), **line.model_dump(mode="json", exclude={"event_id"}),
                                       "at": line.at} for line in domain.timeline_entries(old)])
    await browser.app.state.handlers.downstream_events([old])
    assert [line.record_id for line in await store.timeline_of(str(earlier))] == [str(lead.lead_id)
                                                                                  for lead in leads[:3]]
    assert domain.case_progress(await store.timeline_of(str(earlier))).job_leads_by_status == {"new": 3}
    # Stored as one document holding the lines as documents (the version before the lines' JSON text).
    before = uuid.uuid4()
    older = JOB_LEADS_FOUND.envelope(JobLeadsFound(case_id=before, found_at=datetime.now(UTC), leads=leads[3:5]),
                                     producer="job_match", correlation_id=before)
    lines = domain.timeline_entries(older)
    await store.timeline.insert_one({"_id": str(older.event_id), "case_id": str(before), "at": lines[0].at, "lines": [
        {**line.model_dump(mode="json", exclude={"case_id"}), "at": line.at} for line in lines]})
    assert [(line.event_id, line.record_id, line.status, line.detail) for line in await store.timeline_of(str(before))
            ] == [(line.event_id, line.record_id, line.status, line.detail) for line in lines]


async def test_error_pages_are_danish_with_english_on_the_toggle(browser):
    missing = await browser.get(f"/cases/{uuid.uuid4()}")
    assert missing.status_code == 404 and "Der er ingen registrering med dette sagsnummer." in missing.text
    assert "No registration" not in missing.text
    english = await browser.get(f"/cases/{uuid.uuid4()}",
                                headers={"Cookie": browser.headers["Cookie"] + "; velkommen_lang=en"})
    assert english.status_code == 404 and "No registration with this case id." in english.text
