"""A family address the mail server refuses (550): recorded once, no more family mail to it, and told to
registration, whose case page shows it beside the address. Against a real Mailpit that refuses the address."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.registration.app import create_app as registration_app
from services.registration.domain import case_progress, timeline_entry
from services.registration.settings import RegistrationSettings
from services.welcome_pack.app import create_app
from services.welcome_pack.family_mail import report_refused_addresses
from services.welcome_pack.settings import WelcomePackSettings
from shared.events import FAMILY_MAIL_REFUSED, FamilyMailRefused
from tests.apps import as_role, running
from tests.builders import arrival_event, registration
from tests.kafka_helpers import eventually, read_until_quiet
from tests.mailpit import private_mailpit


def test_the_timeline_and_progress_show_a_refused_address():
    case_id = uuid.uuid4()
    event = FAMILY_MAIL_REFUSED.envelope(FamilyMailRefused(case_id=case_id, refused_at=datetime.now(UTC),
                                                           smtp_code=550),
                                         producer="welcome_pack", correlation_id=case_id)
    entry = timeline_entry(event)
    assert (entry.kind, entry.status, entry.detail) == ("family_mail", "refused", {"smtp_code": "550"})
    assert case_progress([entry]).mail_refused == entry
    assert case_progress([]).mail_refused is None


@pytest.fixture
def refusing_mailpit(tmp_path):
    with private_mailpit(tmp_path, "@allowed\\.example\\.org$") as server:
        yield server


async def test_a_refused_family_address_is_recorded_once_and_told_to_registration(infrastructure,
                                                                                   refusing_mailpit):
    smtp_port, _ = refusing_mailpit
    settings = infrastructure.settings(WelcomePackSettings, smtp_port=smtp_port, notification_poll_seconds=0.2,
                                       mongodb_database=f"test_{infrastructure.run_id}_refused_{uuid.uuid4().hex[:6]}")
    app = create_app(settings)
    async with running(app):
        state = app.state
        event = arrival_event(registration(email="familie@refused.example.org", contact_consent=True))
        case_id = str(event.payload.case_id)
        await state.handlers.newcomer_arrived(event)

        async def failed():
            return await state.notifications.refused_recipients(["family_welcome"])

        [refusal] = await eventually(failed, timeout=20)
        assert refusal["case_id"] == case_id and refusal["smtp_code"] == 550
        assert await report_refused_addresses(state.store, state.notifications, state.runtime.erasures, settings) == 1
        assert await report_refused_addresses(state.store, state.notifications, state.runtime.erasures, settings) == 0
        assert await state.store.consenting([case_id]) == set()  # no more family mail to that address
        topic = settings.topic(FAMILY_MAIL_REFUSED.topic)
        told = [FAMILY_MAIL_REFUSED.parse(m.value)
                for m in await read_until_quiet(infrastructure.kafka_bootstrap_servers, topic, at_least=1)]
        assert [(str(e.payload.case_id), e.payload.smtp_code) for e in told] == [(case_id, 550)]
        assert "refused.example" not in told[0].model_dump_json()  # no address in the event

    # Registration shows it beside the address on the case page.
    reg_settings = infrastructure.settings(RegistrationSettings,
                                           mongodb_database=f"test_{infrastructure.run_id}_refused_reg")
    reg = registration_app(reg_settings)
    async with running(reg) as client:
        staff = as_role(reg_settings, "borgerservice")
        created = await client.post("/registrations", json=registration(email="familie@refused.example.org",
                                                                       contact_consent=True), headers=staff)
        registered = created.json()["case_id"]
        await reg.state.handlers.downstream_event(told[0].model_copy(update={"payload": told[0].payload.model_copy(
            update={"case_id": uuid.UUID(registered)})}))
        page = await client.get(f"/cases/{registered}", headers={**staff, "Accept": "text/html"})
        assert "familie@refused.example.org" in page.text
        assert "Adressen blev afvist af mailserveren" in page.text and "SMTP 550" in page.text
