"""The outbox does not grow forever (#14): after N registrations and their letters, a compaction leaves the
log with only its checkpoints and the documents without published entries, and neither a restart (the relays'
start-up scans) nor a redelivery of the arrivals publishes or stores anything new."""

from __future__ import annotations

import contextlib
import json
import uuid

from services.registration.app import create_app as registration_app
from services.registration.settings import RegistrationSettings
from services.welcome_pack.app import create_app as welcome_pack_app
from services.welcome_pack.settings import WelcomePackSettings
from shared.events import NEWCOMER_ARRIVED, WELCOME_LETTER_GENERATED
from shared.outbox import LOG_COLLECTION, OutboxCompactor
from tests.apps import running
from tests.builders import registration
from tests.kafka_helpers import eventually, group_lag, read_until_quiet, write

N = 30


async def sizes(app) -> dict[str, int]:
    db = app.state.runtime.db
    log = db[LOG_COLLECTION]
    kinds = {"claims": 0, "markers": 0, "checkpoints": 0}
    async for doc in log.find({}, {"_id": 1}):
        kind = "markers" if doc["_id"].startswith("published:") else \
            "checkpoints" if doc["_id"].startswith("checkpoint:") else "claims"
        kinds[kind] += 1
    entries = 0
    for name in ("cases", "letters"):
        async for doc in db[name].find({}, {"outbox": 1}):
            entries += len(doc.get("outbox") or {})
    turns = await db["case_turns"].count_documents({}) if "case_turns" in await db.list_collection_names() else 0
    return {**kinds, "entries": entries, "turns": turns}


def compactor(app) -> OutboxCompactor:
    """What the service runs every OUTBOX_COMPACT_SECONDS, here with nothing kept (keep and grace 0)."""
    return app.state.runtime.start_compaction(app.state.store.outbox_compaction())


async def test_compaction_keeps_only_what_relays_can_still_need_and_nothing_is_published_again(infrastructure):
    run = uuid.uuid4().hex[:6]
    common = {"kafka_topic_prefix": f"test-{infrastructure.run_id}-compact-{run}.", "outbox_keep_seconds": 0,
              "outbox_compaction_grace_seconds": 0, "outbox_compact_seconds": 3600}
    reg_settings = infrastructure.settings(RegistrationSettings, **common,
                                           mongodb_database=f"test_{infrastructure.run_id}_compact_reg_{run}")
    wp_settings = infrastructure.settings(WelcomePackSettings, **common,
                                          mongodb_database=f"test_{infrastructure.run_id}_compact_wp_{run}")
    arrivals = reg_settings.topic(NEWCOMER_ARRIVED.topic)
    letters_topic = wp_settings.topic(WELCOME_LETTER_GENERATED.topic)
    bootstrap = infrastructure.kafka_bootstrap_servers

    async with contextlib.AsyncExitStack() as stack:
        reg_app, wp_app = registration_app(reg_settings), welcome_pack_app(wp_settings)
        reg = await stack.enter_async_context(running(reg_app, role="borgerservice"))
        await stack.enter_async_context(running(wp_app))
        case_ids = []
        for n in range(N):
            created = await reg.post("/registrations", json=registration(), headers={"Idempotency-Key": f"c-{n}-{run}"})
            case_ids.append(created.json()["case_id"])
        for case_id in case_ids[:5]:  # changes take turns
            assert (await reg.post(f"/registrations/{case_id}/close")).status_code == 204
        assert len(await read_until_quiet(bootstrap, letters_topic, at_least=N, quiet_seconds=1.0)) == N
        before = {"registration": await sizes(reg_app), "welcome_pack": await sizes(wp_app)}

        reg_compactor, wp_compactor = compactor(reg_app), compactor(wp_app)
        first = [await reg_compactor.run_once(), await wp_compactor.run_once()]   # entries out, markers flagged
        second = [await reg_compactor.run_once(), await wp_compactor.run_once()]  # markers and claims deleted
        after = {"registration": await sizes(reg_app), "welcome_pack": await sizes(wp_app)}
        print(f"\n[compaction] {N} registrations: before {json.dumps(before)}; after {json.dumps(after)}; "
              f"runs {first} then {second}")
        for service in after:
            assert after[service] == {"claims": 0, "markers": 0, "checkpoints": after[service]["checkpoints"],
                                      "entries": 0, "turns": 0}, service
        assert before["registration"]["entries"] == N and before["welcome_pack"]["entries"] == N
        assert before["registration"]["markers"] == N and before["registration"]["turns"] == 5
        # Still shown as published, though its marker is gone.
        assert (await reg.get(f"/registrations/{case_ids[0]}")).json()["arrival_event_published"] is True

    arrivals_before = await read_until_quiet(bootstrap, arrivals, quiet_seconds=1.0)
    letters_before = await read_until_quiet(bootstrap, letters_topic, quiet_seconds=1.0)
    # A restart (the relays' start-up scans), then every arrival delivered again.
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(registration_app(reg_settings)))
        wp_app = welcome_pack_app(wp_settings)
        await stack.enter_async_context(running(wp_app))
        await write(bootstrap, arrivals, [r.value for r in arrivals_before], key=b"replayed")

        async def replay_handled():
            return await group_lag(bootstrap, wp_settings.consumer_group, [arrivals]) == 0

        assert await eventually(replay_handled, timeout=60)
        assert await wp_app.state.store.letters.count_documents({}) == N
        assert len(await read_until_quiet(bootstrap, arrivals, quiet_seconds=2.0)) == 2 * N  # only the replay
        assert len(await read_until_quiet(bootstrap, letters_topic, quiet_seconds=2.0)) == len(letters_before)
