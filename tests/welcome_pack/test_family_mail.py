"""The family's welcome mail: only with an address and consent, in its language, once; unsubscribing works
without signing in and stops every later mail; erasure drops what is pending. Against the real Mailpit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.welcome_pack.app import create_app
from services.welcome_pack.family_mail import unsubscribe_url, valid_unsubscribe, welcome_mail
from services.welcome_pack.handlers import WelcomePackHandlers
from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.settings import WelcomePackSettings
from shared.events import NEWCOMER_ERASED, ErasureBasis, NewcomerErased
from shared.notify import NotificationStore, notification_id
from tests.apps import running
from tests.builders import arrival_event, registration
from tests.kafka_helpers import eventually
from tests.mailpit import mails_with

SETTINGS = WelcomePackSettings(auth_dev_issuer=True, welcome_pack_url="https://welcome.example")


def test_unsubscribe_links_are_signed_per_case():
    case_id = str(uuid.uuid4())
    url = unsubscribe_url(case_id, SETTINGS)
    mac = url.rsplit("/", 1)[1]
    assert url.startswith(f"https://welcome.example/unsubscribe/{case_id}/")
    assert valid_unsubscribe(case_id, mac, SETTINGS)
    assert not valid_unsubscribe(str(uuid.uuid4()), mac, SETTINGS)
    other = SETTINGS.model_copy(update={"mail_link_secret": SETTINGS.mail_link_secret.__class__("another")})
    assert not valid_unsubscribe(case_id, mac, other)


def test_the_link_secret_is_required_outside_development():
    with pytest.raises(ValueError, match="MAIL_LINK_SECRET"):
        create_app(WelcomePackSettings(auth_dev_issuer=False, auth_issuer="https://idp.example",
                                       auth_jwks_url="https://idp.example/jwks"))


def test_the_arabic_welcome_mail_is_right_to_left_with_its_link_left_to_right():
    renderer = LetterRenderer("herning")
    letter = {"case_id": str(uuid.uuid4()), "language": "ar",
              "html": '<html lang="ar" dir="rtl"><body><p>مرحبًا</p></body></html>'}
    mail = welcome_mail(letter, "amira@example.org", renderer, SETTINGS)
    assert mail.subject == "مرحبًا بكم في Herning Kommune" and mail.language == "ar"
    assert unsubscribe_url(letter["case_id"], SETTINGS) in mail.text
    assert '<footer lang="ar" dir="rtl"' in mail.html and 'dir="ltr">إيقاف هذه الرسائل</a>' in mail.html
    assert "140587" not in mail.text + mail.html


@pytest.fixture(scope="module")
async def service(infrastructure):
    settings = infrastructure.settings(WelcomePackSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_family_mail")
    app = create_app(settings)
    async with running(app) as client:
        yield client, app



async def test_a_consenting_family_gets_its_welcome_mail_once_in_its_language(service, infrastructure):
    client, app = service
    event = arrival_event(registration(preferred_language="de", email="familie@example.org", contact_consent=True))
    await app.state.handlers.newcomer_arrived(event)
    await app.state.handlers.newcomer_arrived(event)  # redelivered
    message_id = f"{notification_id(f'family-welcome:{event.payload.case_id}')}@velkommen"

    async def arrived():
        return await mails_with(infrastructure.mailpit_url, message_id)

    [mail] = await eventually(arrived, timeout=20)
    assert mail["Subject"] == "Willkommen in Herning Kommune"
    assert [to["Address"] for to in mail["To"]] == ["familie@example.org"]
    async with httpx.AsyncClient() as http:
        headers = (await http.get(f"{infrastructure.mailpit_url}/api/v1/message/{mail['ID']}/headers")).json()
    assert headers["List-Unsubscribe"] == [f"<{unsubscribe_url(str(event.payload.case_id), app.state.settings)}>"]
    assert "140587" not in str(mail)


async def test_no_address_or_no_consent_means_no_mail(service):
    _, app = service
    for body in (registration(), registration(email="x@example.org", contact_consent=False)):
        event = arrival_event(body)
        await app.state.handlers.newcomer_arrived(event)
        assert await app.state.notifications.pending.count_documents({"case_id": str(event.payload.case_id)}) == 0
        assert await app.state.notifications.sent.count_documents({"case_id": str(event.payload.case_id)}) == 0


async def test_unsubscribing_without_signing_in_stops_every_later_mail(service, mongo_client, infrastructure):
    client, app = service
    # The service's handlers with a notification store no sender reads: the mail stays pending for us to see.
    store = NotificationStore(mongo_client[f"test_{infrastructure.run_id}_family_unsent_{uuid.uuid4().hex[:6]}"])
    handlers = WelcomePackHandlers(store=app.state.store, renderer=app.state.renderer, settings=app.state.settings,
                                   access=app.state.access,
                                   erasures=app.state.runtime.erasures, notifications=store)
    app.state.notifications, real = store, app.state.notifications  # the page drops what this store holds
    try:
        event = arrival_event(registration(preferred_language="ar", email="amira@example.org", contact_consent=True))
        case_id = str(event.payload.case_id)
        await handlers.newcomer_arrived(event)
        assert await store.pending.count_documents({"case_id": case_id}) == 1
        path = unsubscribe_url(case_id, app.state.settings).removeprefix(app.state.settings.welcome_pack_url)
        asked = await client.get(path)
        assert asked.status_code == 200 and 'dir="rtl"' in asked.text and "إيقاف" in asked.text
        done = await client.post(path)
        assert done.status_code == 200 and "لن تصلك رسائل أخرى" in done.text
        assert await store.pending.count_documents({"case_id": case_id}) == 0
        await handlers.newcomer_arrived(event)  # redelivered after unsubscribing
        assert await store.pending.count_documents({"case_id": case_id}) == 0
        forged = await client.get(path[:-4] + "0000")
        unknown = await client.get(unsubscribe_url(str(uuid.uuid4()), app.state.settings)
                                   .removeprefix(app.state.settings.welcome_pack_url))
        assert forged.status_code == unknown.status_code == 404 and forged.text == unknown.text.replace(
            'lang="en" dir="ltr"', 'lang="ar" dir="rtl"').replace("This link is not valid.", "هذا الرابط غير صالح.")
    finally:
        app.state.notifications = real


async def test_erasure_drops_the_familys_pending_mail_and_its_contact(service, mongo_client, infrastructure):
    _, app = service
    store = NotificationStore(mongo_client[f"test_{infrastructure.run_id}_family_erased_{uuid.uuid4().hex[:6]}"])
    handlers = WelcomePackHandlers(store=app.state.store, renderer=app.state.renderer, settings=app.state.settings,
                                   access=app.state.access,
                                   erasures=app.state.runtime.erasures, notifications=store)
    event = arrival_event(registration(email="gone@example.org", contact_consent=True))
    case_id = str(event.payload.case_id)
    await handlers.newcomer_arrived(event)
    assert await store.pending.count_documents({"case_id": case_id}) == 1
    await handlers.newcomer_erased(NEWCOMER_ERASED.envelope(
        NewcomerErased(case_id=event.payload.case_id, basis=ErasureBasis.REQUEST, requested_at=datetime.now(UTC)),
        producer="tests", correlation_id=event.payload.case_id))
    assert await store.pending.count_documents({"case_id": case_id}) == 0
    assert await app.state.store.contact(case_id) is None
