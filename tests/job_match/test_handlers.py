"""The job match's handler, listing index and API against the real database."""

from datetime import date

import pytest

from services.job_match.app import create_app
from services.job_match.handlers import handle_newcomer_arrived
from services.job_match.listings import sample_listings
from services.job_match.settings import JobMatchSettings
from tests.apps import running
from tests.builders import arrival_event, registration


@pytest.fixture(scope="module")
async def service(infrastructure):
    app = create_app(infrastructure.settings(JobMatchSettings))
    async with running(app) as client:
        yield client, app.state.store


def test_the_sample_has_at_least_500_listings_and_stays_current():
    listings = sample_listings("sample_listings.json", date.today())
    assert len(listings) >= 500
    assert max(item.published for item in listings) <= date.today()
    assert sum(item.expires >= date.today() for item in listings) > 400


async def test_sample_listings_are_loaded_at_start_up_with_their_index_terms(service):
    _, store = service
    assert await store.count_listings() >= 500
    found = await store.open_listings_with_terms(frozenset({"welding"}), date.today())
    assert found and all("welding" in item.index_terms for item in found)
    assert all(item.expires >= date.today() for item in found)


async def test_the_same_event_twice_gives_the_same_leads_once(service):
    client, store = service
    event = arrival_event()
    await handle_newcomer_arrived(event, store=store, leads_per_spouse=10)
    await handle_newcomer_arrived(event, store=store, leads_per_spouse=10)
    leads = (await client.get("/leads", params={"case_id": str(event.payload.case_id)})).json()
    assert len(leads) == 10
    assert len({lead["listing_id"] for lead in leads}) == 10
    assert [lead["score"] for lead in leads] == sorted((lead["score"] for lead in leads), reverse=True)
    assert all("welding" in lead["explanation"]["summary"] for lead in leads)
    assert all(lead["status"] == "new" for lead in leads)


async def test_no_spouse_or_no_wish_for_help_gives_no_leads(service):
    client, store = service
    alone = arrival_event(registration(with_spouse=False))
    body = registration()
    body["household"]["spouse"]["wants_job_help"] = False
    declined = arrival_event(body)
    for event in (alone, declined):
        await handle_newcomer_arrived(event, store=store, leads_per_spouse=10)
        assert (await client.get("/leads", params={"case_id": str(event.payload.case_id)})).json() == []
