"""The dead-letter CLI against the real broker: list, show, replay chosen letters, replay what is new."""

import asyncio
import json
import os
import sys
import uuid

from shared import bus, dlq
from shared.events import NEWCOMER_ARRIVED, to_json
from shared.settings import ServiceSettings
from tests.builders import arrival_event
from tests.kafka_helpers import eventually, write
from tests.shared.test_bus import _run, _stop


async def cli(settings, *args: str) -> str:
    """Run `python -m shared.dlq ...` as an operator would, with the installation's environment."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
           "KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "shared.dlq", *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_dead_letters_are_listed_shown_and_replayed_once_the_bug_is_fixed(infrastructure):
    settings = infrastructure.settings(ServiceSettings, service_name=f"dlq-{uuid.uuid4().hex[:6]}",
                                       kafka_topic_prefix=f"test-{uuid.uuid4().hex[:8]}.", consumer_max_attempts=2)
    topic = settings.topic(NEWCOMER_ARRIVED.topic)
    fixed, handled = False, []

    async def handler(event):
        if not fixed and event.payload.newcomer.full_name.startswith("Bug"):
            raise ValueError("handler bug")
        handled.append(event.payload.newcomer.full_name)

    runner, task, producer = await _run(settings, handler)
    victims = [arrival_event(), arrival_event()]
    bodies = [json.loads(to_json(e)) for e in victims]
    for i, body in enumerate(bodies):
        body["payload"]["newcomer"]["full_name"] = f"Bug Victim {i}"
    await write(infrastructure.kafka_bootstrap_servers, topic, [json.dumps(b).encode() for b in bodies] + [b"{junk"])
    assert await eventually(lambda: runner.stats.dead_lettered == 3)

    dlq_topic = bus.dead_letter_topic(topic)
    assert (await dlq.dead_letter_topics(settings))[dlq_topic] == 3
    letters = await dlq.read_dead_letters(settings, dlq_topic)
    assert [d.reason for d in letters] == ["ValueError: handler bug"] * 2 + [letters[2].reason]
    assert "not a valid NewcomerArrived" in letters[2].reason

    # The CLI, as an operator uses it (the topic name without the installation's prefix).
    name = dlq_topic.removeprefix(settings.kafka_topic_prefix)
    assert f"       3  {name}" in (await cli(settings, "list")).splitlines()
    shown = await cli(settings, "show", name)
    assert "3 dead letter(s)" in shown and "reason: ValueError: handler bug" in shown
    assert "Bug Victim" not in shown  # values (personal data) only with --values
    assert "Bug Victim 1" in await cli(settings, "show", name, "--values")

    fixed = True
    first = letters[0]
    assert json.loads(await cli(settings, "replay", name, "--at", first.position))["replayed"] == [first.position]
    assert await eventually(lambda: "Bug Victim 0" in handled)

    # --all-new replays everything once (the junk goes back to the dead letters: still unreadable)...
    replayed = await dlq.replay(settings, dlq_topic, all_new=True)
    assert len(replayed) == 3
    assert await eventually(lambda: "Bug Victim 1" in handled and runner.stats.dead_lettered == 4)
    # ...and a second --all-new only what is new since: the junk's second dead letter.
    again = await dlq.replay(settings, dlq_topic, all_new=True)
    assert [d.headers.get("dlq.replayed-from") for d in again] == [f"{dlq_topic}:{letters[2].position}"]
    await _stop(runner, task, producer)
    assert handled.count("Bug Victim 0") == 2  # replayed twice (by --at and --all-new); handlers are idempotent
