"""Scale-out on Kafka's partitions (#9): three replicas of welcome_pack in one consumer group share a 6-partition
topic; one is killed and the others take its partitions over; no letter is lost or doubled. Prints the
assignments and the throughput with 1 and with 3 replicas (FAULTS_SCALE_EVENTS, default 2000)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from bench.flow import write_arrivals
from shared import bus
from shared.events import NEWCOMER_ARRIVED, WELCOME_LETTER_GENERATED
from shared.settings import ServiceSettings
from tests.conftest import ROOT
from tests.faults.harness import Installation, free_port, lag_of
from tests.faults.test_faults import REPORT, emit

pytestmark = pytest.mark.faults
EVENTS = int(os.environ.get("FAULTS_SCALE_EVENTS", "2000"))
SERVICE = "welcome_pack"


def start_replica(inst: Installation, prefix: str, database: str, n: int) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": inst.bootstrap, "MONGODB_URI": inst.mongodb_uri,
           "KAFKA_TOPIC_PREFIX": prefix, "MONGODB_DATABASE": database, "KAFKA_TOPIC_PARTITIONS": "6",
           "AUTH_DEV_ISSUER": "true", "AUTH_DEV_KEY_FILE": str(inst.key_file), "OUTBOX_POLL_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "shared.serve", SERVICE, "--port", str(free_port())], cwd=ROOT,
                            env=env, stdout=open(inst.workdir / f"scale-{prefix}{n}.log", "w"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


async def assignments(inst: Installation, group: str, topic: str) -> dict[str, list[int]]:
    """Which partitions of `topic` each member of the group holds (member id -> partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=inst.bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    except KafkaError:
        return {}  # the group (or its coordinator) does not exist yet
    finally:
        await admin.close()
    result = {}
    for member in described.groups[0][5] if hasattr(described, "groups") else []:
        member_id, assignment = member[0], member[4]
        if assignment:
            decoded = ConsumerProtocolMemberAssignment.decode(assignment)
            result[member_id[-8:]] = sorted(p for t, parts in decoded.assignment if t == topic for p in parts)
    return result


async def run(inst: Installation, replicas: int, kill_one: bool) -> dict:
    prefix = f"scale{replicas}-{int(time.time())}."
    database = f"velkommen_scale_{replicas}_{int(time.time())}"
    settings = ServiceSettings(kafka_bootstrap_servers=inst.bootstrap, kafka_topic_prefix=prefix,
                               kafka_topic_partitions=6)
    await bus.ensure_topics(settings, [NEWCOMER_ARRIVED, WELCOME_LETTER_GENERATED])
    group, topic = prefix + SERVICE, prefix + NEWCOMER_ARRIVED.topic
    processes = [start_replica(inst, prefix, database, n) for n in range(replicas)]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            shared_out = await assignments(inst, group, topic)
            if len(shared_out) == replicas and sum(len(p) for p in shared_out.values()) == 6:
                break
            await asyncio.sleep(0.5)
        await write_arrivals(inst.bootstrap, topic, EVENTS)
        started = time.perf_counter()
        after_kill = None
        killed_at = None
        while await lag_of(inst, group, [topic]) > 0:
            # Killed as soon as the group has committed anything: mid-stream, with batches in hand (the replicas
            # get through all the events in about a second, so waiting for a later point can miss it).
            if kill_one and killed_at is None and await lag_of(inst, group, [topic]) < EVENTS:
                processes[0].send_signal(signal.SIGKILL)
                processes[0].wait()
                killed_at = time.perf_counter() - started
            if killed_at is not None and after_kill is None:
                current = await assignments(inst, group, topic)
                if len(current) == replicas - 1 and sum(len(p) for p in current.values()) == 6:
                    after_kill = current
            if time.perf_counter() - started > 600:
                break
            await asyncio.sleep(0.05 if killed_at is None else 0.25)
        seconds = time.perf_counter() - started
        while kill_one and after_kill is None and time.perf_counter() - started < seconds + 30:
            current = await assignments(inst, group, topic)
            if len(current) == replicas - 1 and sum(len(p) for p in current.values()) == 6:
                after_kill = current
            await asyncio.sleep(0.5)
        # Letters are stored before their offsets are committed: with the group's lag at 0 (seen twice, a
        # rebalance in between would show), every letter there will be is there.
        for _ in range(2):
            while await lag_of(inst, group, [topic]) > 0 and time.perf_counter() - started < seconds + 60:
                await asyncio.sleep(0.25)
            await asyncio.sleep(0.5)
        client = AsyncMongoClient(inst.mongodb_uri)
        letters = [d["case_id"] async for d in client[database]["letters"].find({}, {"case_id": 1})]
        await client.close()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            process.wait(timeout=30)
    return {"replicas": replicas, "events": EVENTS, "seconds": round(seconds, 1),
            "events_per_second": round(EVENTS / seconds, 1), "assignment": shared_out,
            "assignment_after_kill": after_kill, "killed_at_s": round(killed_at, 1) if killed_at else None,
            "letters": len(letters), "distinct_cases": len(set(letters))}


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    inst = Installation(tmp_path_factory.mktemp("scale"))
    inst.start_db()
    inst.start_kafka()
    yield inst
    inst.stop()


async def test_three_replicas_share_the_partitions_and_survive_losing_one(installation, capsys):
    one = await run(installation, 1, kill_one=False)
    three_steady = await run(installation, 3, kill_one=False)
    three = await run(installation, 3, kill_one=True)
    REPORT["scale-out"] = {"one_replica": one, "three_replicas": three_steady, "three_replicas_one_killed": three,
                           "speedup_3_vs_1": round(three_steady["events_per_second"] / one["events_per_second"], 2)}
    emit(capsys, f"\n[faults] scale-out: {json.dumps(REPORT['scale-out'])}")
    artifact = ROOT / "test-artifacts" / "faults.json"
    artifact.parent.mkdir(exist_ok=True)
    saved = json.loads(artifact.read_text()) if artifact.exists() else {}
    artifact.write_text(json.dumps({**saved, "scale-out": REPORT["scale-out"]}, indent=2))
    assert sorted(len(p) for p in three["assignment"].values()) == [2, 2, 2]
    assert sorted(len(p) for p in three_steady["assignment"].values()) == [2, 2, 2]
    assert three["assignment_after_kill"] and sorted(len(p) for p in three["assignment_after_kill"].values()) == [3, 3]
    for result in (one, three_steady, three):
        assert result["letters"] == result["distinct_cases"] == EVENTS  # none lost, none doubled
