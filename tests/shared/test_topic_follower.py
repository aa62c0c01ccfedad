"""shared.bus.TopicFollower on the real broker: caught_up() returns once every event on the topic when it was
called is applied, also while the broker holds the follower's fetch on a quiet topic (its end offsets are asked
through a client of their own)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from shared.bus import TopicFollower, ensure_topics
from shared.events import JOB_LISTING_PUBLISHED, JobListingPublished, to_json
from shared.settings import ServiceSettings
from tests.conftest import Infrastructure
from tests.kafka_helpers import write


def _listing(listing_id: str) -> bytes:
    payload = JobListingPublished(listing_id=listing_id, title="Svejser", employer="Test Stål A/S",
                                  municipality="herning", published=date(2026, 12, 1), expires=date(2026, 12, 31))
    return to_json(JOB_LISTING_PUBLISHED.envelope(payload, producer="test", correlation_id=uuid.uuid4()))


async def test_caught_up_sees_what_was_published_before_it_was_called_on_a_quiet_topic(
        infrastructure: Infrastructure) -> None:
    # A fetch the broker holds longer than caught_up may take: asked on the follower's own connection, the end
    # offsets would wait behind it and caught_up would give up (False).
    settings = infrastructure.settings(ServiceSettings, kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.",
                                       consumer_fetch_max_wait_ms=10_000)
    await ensure_topics(settings, [JOB_LISTING_PUBLISHED])
    topic = settings.topic(JOB_LISTING_PUBLISHED.topic)
    await write(settings.kafka_bootstrap_servers, topic, [_listing("before-start")])
    seen: list[str] = []
    follower = TopicFollower(settings, JOB_LISTING_PUBLISHED,
                             lambda events: seen.extend(e.payload.listing_id for e in events), catch_up_seconds=3)
    await follower.start()
    running = asyncio.create_task(follower.run())
    try:
        assert await follower.caught_up()
        assert seen == ["before-start"]
        await asyncio.sleep(0.5)  # the topic is quiet: the broker now holds the follower's fetch
        assert await follower.caught_up()  # nothing new (an arrival's usual case): answered at once all the same
        for n in range(3):
            await write(settings.kafka_bootstrap_servers, topic, [_listing(f"listing-{n}")], key=f"k{n}".encode())
            assert await follower.caught_up()
            assert seen[-1] == f"listing-{n}"
    finally:
        follower.stop()
        await running
