"""The welcome pack's handler and API against the real database and broker."""

import json
import uuid

import pytest

from services.welcome_pack.app import create_app
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import arrival_of
from shared.events import WELCOME_LETTER_GENERATED
from tests.apps import running
from tests.builders import arrival_event, registration
from tests.kafka_helpers import eventually, read_topic


@pytest.fixture(scope="module")
async def service(infrastructure):
    app = create_app(infrastructure.settings(WelcomePackSettings))
    async with running(app, role="borgerservice") as client:
        client.app = app
        yield client, app.state.store


async def only_letter(client, event):
    [letter] = (await client.get("/letters", params={"case_id": str(event.payload.case_id)})).json()
    return letter


async def handle(client, event):
    await client.app.state.handlers.newcomer_arrived(event)


async def test_the_same_event_twice_gives_one_letter(service):
    client, store = service
    event = arrival_event()
    await handle(client, event)
    await handle(client, event)
    letters = (await client.get("/letters", params={"case_id": str(event.payload.case_id)})).json()
    assert len(letters) == 1
    assert letters[0]["language"] == "en"
    html = (await client.get(f"/letters/{letters[0]['letter_id']}")).text
    assert "Welcome to Herning Kommune, <bdi>Amira Haddad</bdi>" in html
    assert '<html lang="en" dir="ltr">' in html


async def test_names_are_escaped_in_the_letter(service):
    client, store = service
    body = registration(full_name="<script>alert(1)</script>")
    event = arrival_event(body)
    await handle(client, event)
    letter = (await client.get("/letters", params={"case_id": str(event.payload.case_id)})).json()[0]
    html = (await client.get(f"/letters/{letter['letter_id']}")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_a_letter_is_stored_as_what_it_is_rendered_from_and_an_older_letters_html_still_shows(service):
    client, store = service
    event = arrival_event(registration(full_name="Amira Haddad"))
    await handle(client, event)
    letter = await only_letter(client, event)
    stored = await store.get_letter(letter["letter_id"])
    assert "html" not in stored and "arrival" not in stored and "Welcome to" not in str(stored)
    assert arrival_of(stored).newcomer.full_name == "Amira Haddad"
    page = (await client.get(f"/letters/{letter['letter_id']}")).text
    assert "Welcome to Herning Kommune, <bdi>Amira Haddad</bdi>" in page
    # A letter written by an earlier version kept its HTML (shown in its own language) and its arrival as fields.
    older_id = str(uuid.uuid4())
    older = {k: v for k, v in stored.items() if k != "arrival_json"}
    await store.letters.insert_one({**older, "_id": older_id, "html": "<html><body><p>As sent</p></body></html>",
                                    "arrival": arrival_of(stored).model_dump(mode="json")})
    assert "<p>As sent</p>" in (await client.get(f"/letters/{older_id}")).text
    german = (await client.get(f"/letters/{older_id}", params={"lang": "de"})).text
    assert "As sent" not in german and "Willkommen in Herning Kommune, <bdi>Amira Haddad</bdi>" in german


async def test_unknown_letter_is_404(service):
    client, _ = service
    assert (await client.get("/letters/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_a_batch_writes_one_letter_per_case_whatever_was_seen_before(service):
    """The consumer hands over a poll's events at once: redelivered events, an event twice in the batch and an
    erased case must still give exactly one letter per living case."""
    client, store = service
    seen_before, twice, fresh, erased = (arrival_event() for _ in range(4))
    await handle(client, seen_before)
    await client.app.state.runtime.erasures.tombstones.insert_one({"_id": str(erased.payload.case_id)})
    await client.app.state.handlers.newcomers_arrived([seen_before, twice, fresh, twice, erased])
    for event in (seen_before, twice, fresh):
        letters = await store.letters_of_case(str(event.payload.case_id))
        assert len(letters) == 1 and letters[0]["source_event_id"] == str(event.event_id)
    assert await store.letters_of_case(str(erased.payload.case_id)) == []


async def test_the_letter_goes_out_in_the_preferred_language_and_any_other_on_request(service):
    client, _ = service
    event = arrival_event(registration(preferred_language="ar"))
    await handle(client, event)
    letter = await only_letter(client, event)
    assert letter["language"] == "ar"
    html = (await client.get(f"/letters/{letter['letter_id']}")).text
    assert '<html lang="ar" dir="rtl">' in html
    german = (await client.get(f"/letters/{letter['letter_id']}", params={"lang": "de"})).text
    assert '<html lang="de" dir="ltr">' in german and "Willkommen in Herning Kommune, <bdi>Amira Haddad</bdi>" in german
    pdf = await client.get(f"/letters/{letter['letter_id']}.pdf", params={"lang": "zh"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    refused = await client.get(f"/letters/{letter['letter_id']}", params={"lang": "xx"})
    assert refused.status_code == 422
    assert "da, en, de, zh, ar, ru, es, fr" in refused.json()["detail"]


async def test_an_unsupported_preferred_language_falls_back_to_english(service):
    client, _ = service
    event = arrival_event(registration(preferred_language="pl"))
    await handle(client, event)
    assert (await only_letter(client, event))["language"] == "en"


async def test_a_stored_letter_is_published_as_welcome_letter_generated(service, infrastructure):
    client, _ = service
    event = arrival_event(registration(preferred_language="fr"))
    await handle(client, event)
    topic = client.app.state.settings.topic(WELCOME_LETTER_GENERATED.topic)

    async def published():
        records = await read_topic(infrastructure.kafka_bootstrap_servers, topic, expect=10_000, timeout=1.5)
        mine = [json.loads(r.value) for r in records if r.key == str(event.payload.case_id).encode()]
        return mine or None

    [generated] = await eventually(published, timeout=20)
    assert generated["type"] == "WelcomeLetterGenerated"
    assert generated["payload"]["language"] == "fr"
    assert generated["causation_id"] == str(event.event_id)
    assert "Amira" not in json.dumps(generated)
