"""The welcome pack's handler and API against the real database and broker."""

import pytest

from services.welcome_pack.app import create_app
from services.welcome_pack.handlers import handle_newcomer_arrived
from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore
from tests.apps import running
from tests.builders import arrival_event, registration


@pytest.fixture(scope="module")
async def service(infrastructure):
    app = create_app(infrastructure.settings(WelcomePackSettings))
    async with running(app) as client:
        yield client, app.state.store


async def test_the_same_event_twice_gives_one_letter(service):
    client, store = service
    event = arrival_event()
    renderer = LetterRenderer("herning")
    await handle_newcomer_arrived(event, store=store, renderer=renderer)
    await handle_newcomer_arrived(event, store=store, renderer=renderer)
    letters = (await client.get("/letters", params={"case_id": str(event.payload.case_id)})).json()
    assert len(letters) == 1
    assert letters[0]["language"] == "en"
    html = (await client.get(f"/letters/{letters[0]['letter_id']}")).text
    assert "Welcome to Herning Kommune, Amira Haddad" in html
    assert '<html lang="en" dir="ltr">' in html


async def test_names_are_escaped_in_the_letter(service):
    client, store = service
    body = registration(full_name="<script>alert(1)</script>")
    event = arrival_event(body)
    await handle_newcomer_arrived(event, store=store, renderer=LetterRenderer("herning"))
    letter = (await client.get("/letters", params={"case_id": str(event.payload.case_id)})).json()[0]
    html = (await client.get(f"/letters/{letter['letter_id']}")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_unknown_letter_is_404(service):
    client, _ = service
    assert (await client.get("/letters/00000000-0000-0000-0000-000000000000")).status_code == 404


async def test_store_reports_a_duplicate_insert(service):
    _, store = service
    assert isinstance(store, LetterStore)
    letter = {"_id": "dup-test", "case_id": "x", "language": "en", "sections": [], "html": ""}
    assert await store.insert_letter(dict(letter)) is True
    assert await store.insert_letter(dict(letter)) is False
