"""The advisers' digest: one mail per period to the Jobcenter team's mailbox, counts and links only."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.job_match.app import create_app
from services.job_match.digest import digest_mail, last_period, send_digest
from services.job_match.settings import JobMatchSettings
from shared.notify import notification_id
from tests.apps import running
from tests.builders import arrival_event, registration
from tests.kafka_helpers import eventually
from tests.mailpit import mails_with


def test_periods_are_whole_and_the_same_for_every_replica():
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    assert last_period(now, 24) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    assert last_period(now, 6) == (datetime(2026, 12, 2, 0, tzinfo=UTC), datetime(2026, 12, 2, 6, tzinfo=UTC))
    assert last_period(datetime(2026, 12, 2, 6, tzinfo=UTC), 6)[1] == datetime(2026, 12, 2, 6, tzinfo=UTC)


def test_the_digest_counts_and_links_and_names_nobody():
    settings = JobMatchSettings(job_match_url="https://jobs.example")
    start, end = last_period(datetime(2026, 12, 2, 9, tzinfo=UTC), 24)
    mail = digest_mail(Counter({"case-a": 10, "case-b": 3}), start, end, settings)
    assert mail.to == settings.jobcenter_mailbox and mail.subject == "Velkommen: nye jobforslag (13)"
    assert "13 til 2 ægtefæller/partnere" in mail.text
    assert mail.text.index("10 nye: https://jobs.example/#case-case-a") < mail.text.index("3 nye: ")


@pytest.fixture(scope="module")
async def service(infrastructure):
    settings = infrastructure.settings(JobMatchSettings, mongodb_database=f"test_{infrastructure.run_id}_digest")
    app = create_app(settings)
    async with running(app) as client:
        yield client, app


async def test_one_digest_per_period_whoever_sends_it(service, infrastructure):
    _, app = service
    settings = app.state.settings
    after_this_period = datetime.now(UTC) + timedelta(hours=settings.digest_hours)
    start, _ = last_period(after_this_period, settings.digest_hours)
    message_id = f"{notification_id(f'leads-digest:{start.isoformat()}')}@velkommen"
    async with httpx.AsyncClient() as http:  # a kept Mailpit may hold this period's digest from an earlier run
        await http.request("DELETE", f"{infrastructure.mailpit_url}/api/v1/search",
                           params={"query": f"message-id:{message_id}"})
    event = arrival_event(registration(children=[]))
    await app.state.handlers.newcomer_arrived(event)
    written = await asyncio.gather(*(send_digest(app.state.store, app.state.notifications, settings,
                                                 now=after_this_period) for _ in range(3)))
    assert sum(written) >= 1

    async def sent():
        return await app.state.notifications.pending.count_documents({}) == 0

    assert await eventually(sent, timeout=20)
    [mail] = await mails_with(infrastructure.mailpit_url, message_id)
    assert [to["Address"] for to in mail["To"]] == [settings.jobcenter_mailbox]
    assert "Jonas" not in str(mail) and "Weber" not in str(mail)
    assert await send_digest(app.state.store, app.state.notifications, settings, now=after_this_period) == 0
