"""Fault injection on real processes: a private Kafka, FerretDB and the four services, broken on purpose.

Each scenario prints its counts (sent, accepted, complete, missing, duplicated, dead-lettered) and they are
written to test-artifacts/faults.json. Size: FAULTS_REGISTRATIONS (100 in `make test` and CI; `make faults`
runs 1,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from services.job_match.domain import rank_leads, spouse_profile
from services.job_match.index import ListingIndex
from services.job_match.listings import sample_listings
from services.job_match.settings import JobMatchSettings
from services.school_intake.domain import MunicipalityConfig, TaskStatus, decide_intake, reminders_due, task_id_for
from shared.events import NEWCOMER_ARRIVED, to_json
from shared.municipality import load_municipality_file
from shared.notify import notification_id
from tests.builders import arrival as arrival_of
from tests.builders import arrival_event, registration
from tests.conftest import ROOT
from tests.faults.harness import (
    PREFIX,
    SERVICES,
    Installation,
    LoadResult,
    dead_letters,
    group_lag,
    mail_message_ids,
    outputs,
    register_load,
    reset_group_to_beginning,
    settle,
    topic_sizes,
)

pytestmark = pytest.mark.faults
N = int(os.environ.get("FAULTS_REGISTRATIONS", "100"))
REPORT: dict[str, dict] = {}
TEMPLATES = {
    "family": lambda: registration(),                                  # spouse + children of 7 and 2
    "single": lambda: registration(with_spouse=False, children=[]),   # a worker alone
}


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    inst = Installation(tmp_path_factory.mktemp("faults"))
    try:
        inst.start()
        yield inst
    finally:
        codes = inst.stop()
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        (ROOT / "test-artifacts" / "faults.json").write_text(json.dumps(REPORT, indent=2))
        assert all(code == 0 for code in codes.values()), codes


def expected_outputs(body: dict, today: date) -> tuple[int, int]:
    """What the rules say a registration gets (intake tasks, job leads), computed with the services' pure rules
    and data, not learnt from the system under test: school_intake's decisions for the household on the
    Herning sample, and job_match's ranking of the spouse against the sample listings (dated as at start-up)."""
    arrival = arrival_of(body)
    config = MunicipalityConfig.model_validate(load_municipality_file(ROOT / "services" / "school_intake", "herning"))
    tasks = len(decide_intake(arrival, config))
    profile = spouse_profile(arrival)
    if profile is None:
        return tasks, 0
    settings = JobMatchSettings()
    index = ListingIndex(sample_listings(settings.sample_listings_file or "", today))
    leads = rank_leads(profile, index.candidates(profile.search_terms, today), today, settings.leads_per_spouse)
    return tasks, len(leads)


@pytest.fixture(scope="module")
async def world(installation):
    """Expected outputs per template, from the rules (expected_outputs)."""
    client = AsyncMongoClient(installation.mongodb_uri, tz_aware=True)
    expected = {name: expected_outputs(make(), date.today()) for name, make in TEMPLATES.items()}
    assert expected["family"][0] == 2 and expected["family"][1] > 0, expected  # the templates mean something
    yield client, expected
    await client.close()


def emit(capsys, line: str) -> None:
    """Print past pytest's capture: every scenario's counts belong in the CI log."""
    with capsys.disabled():
        print(line, flush=True)


def bodies_for(n: int) -> tuple[list[dict], list[str]]:
    names = list(TEMPLATES)
    kinds = [names[i % len(names)] for i in range(n)]
    return [TEMPLATES[k]() for k in kinds], kinds


async def when_accepted(result: LoadResult, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(result.accepted) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def run_with_fault(installation, world, run: str, fault, capsys) -> dict:
    """Register N households while `fault(result)` breaks something; then count the outputs."""
    client, expected = world
    bodies, kinds = bodies_for(N)
    dead_before = await dead_letters(installation)
    result = LoadResult(sent=N)
    started = time.monotonic()
    # Spread over about 20 s, so that the fault happens while registrations are still coming in.
    load = asyncio.create_task(register_load(installation, bodies, run, into=result, rate=max(N / 20, 5)))
    await fault(result)
    await load
    kind_of_key = {f"{run}-{i}": kind for i, kind in enumerate(kinds)}
    cases = {case_id: expected[kind_of_key[key]] for key, case_id in result.accepted.items()}
    verdict = await settle(client, installation, cases)
    counts = {
        "sent": N, "accepted": len(result.accepted), "refused": len(result.refused),
        "retried_requests": result.retried_requests, "complete": verdict.complete,
        "missing": len(verdict.missing), "duplicated": len(verdict.duplicated),
        "dead_lettered": await dead_letters(installation) - dead_before,
        "seconds": round(time.monotonic() - started, 1),
    }
    REPORT[run] = counts
    emit(capsys, f"\n[faults] {run}: {json.dumps(counts)}")
    counts = dict(counts)
    assert not result.refused, result.refused[:3]
    assert len(result.accepted) == N
    assert verdict.missing == [] and verdict.duplicated == [], (verdict.missing[:3], verdict.duplicated[:3])
    assert counts["dead_lettered"] == 0
    counts["_cases"] = {case_id: bodies[int(key.rsplit("-", 1)[1])] for key, case_id in result.accepted.items()}
    return counts


# ------------------------------------------------------------------------------------------------ scenarios

async def test_1_a_consumer_service_killed_with_sigkill_and_restarted_twice(installation, world, capsys):
    async def fault(result):
        for share in (1 / 3, 2 / 3):
            await when_accepted(result, int(N * share))
            code = installation.kill_service("school_intake", signal.SIGKILL)
            assert code == -signal.SIGKILL
            await asyncio.to_thread(installation.start_service, "school_intake")

    await run_with_fault(installation, world, "1-sigkill-school_intake-twice", fault, capsys)


async def test_2_the_broker_stopped_for_ten_seconds_during_load(installation, world, capsys):
    async def fault(result):
        await when_accepted(result, N // 3)
        await asyncio.to_thread(installation.stop_kafka)
        await asyncio.sleep(10)  # registrations keep being accepted: they wait in the outbox
        await asyncio.to_thread(installation.start_kafka)

    counts = await run_with_fault(installation, world, "2-kafka-stopped-10s", fault, capsys)
    assert counts["accepted"] == N


async def test_3_the_database_stopped_and_restarted_during_load(installation, world, capsys):
    async def fault(result):
        await when_accepted(result, N // 3)
        await asyncio.to_thread(installation.stop_db)
        await asyncio.sleep(10)  # the API answers 503; the load generator retries with the same key
        await asyncio.to_thread(installation.start_db)

    counts = await run_with_fault(installation, world, "3-database-stopped-10s", fault, capsys)
    assert counts["retried_requests"] > 0  # the outage was seen by clients (503 or refused connections)


async def settled_sizes(installation, topics, quiet_seconds: float = 3.0) -> dict[str, int]:
    """Topic sizes once the relays have published everything pending (no change for `quiet_seconds`): an event
    still pending from an earlier scenario must not count as a new one."""
    sizes = await topic_sizes(installation, topics)
    while True:
        await asyncio.sleep(quiet_seconds)
        again = await topic_sizes(installation, topics)
        if again == sizes:
            return sizes
        sizes = again


async def test_4_a_full_redelivery_after_resetting_every_consumer_group_changes_nothing(installation, world, capsys):
    client, _ = world
    before = await outputs(client, installation)
    output_topics = [PREFIX + t for t in ("onboarding.welcome-letter-generated.v1",
                                          "onboarding.school-intake-status-changed.v1",
                                          "onboarding.job-leads-found.v1",
                                          "onboarding.job-lead-status-changed.v1",
                                          "onboarding.family-plan-progressed.v1")]
    sizes_before = await settled_sizes(installation, output_topics)
    started = time.monotonic()
    for service in SERVICES:
        assert installation.kill_service(service, signal.SIGTERM) == 0  # drains, commits, exits 0
    for service in SERVICES:
        await reset_group_to_beginning(installation, service)
    redelivered = {s: await group_lag(installation, s) for s in SERVICES}
    for service in SERVICES:
        await asyncio.to_thread(installation.start_service, service)
    deadline = time.monotonic() + 240
    while any([await group_lag(installation, s) for s in SERVICES]) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    after = await outputs(client, installation)
    sizes_after = await settled_sizes(installation, output_topics)
    counts = {"redelivered_events": redelivered, "outputs_before": before.total(), "outputs_after": after.total(),
              "new_output_events": sum(sizes_after.values()) - sum(sizes_before.values()),
              "seconds": round(time.monotonic() - started, 1)}
    REPORT["4-offsets-reset-full-redelivery"] = counts
    emit(capsys, f"\n[faults] 4-offsets-reset-full-redelivery: {json.dumps(counts)}")
    assert all(redelivered.values())
    assert (after.letters, after.tasks, after.leads) == (before.letters, before.tasks, before.leads)
    assert counts["new_output_events"] == 0


async def test_5_poison_events_are_dead_lettered_and_the_good_ones_behind_them_handled(installation, world, capsys):
    client, expected = world
    good = arrival_event(registration())
    compatible = json.loads(to_json(arrival_event(registration())))
    compatible.update(version=NEWCOMER_ARRIVED.version + 1, min_reader_version=1)  # a newer version, a field added
    compatible["payload"]["newcomer"]["pronouns"] = "she/her"
    wrong_types = json.loads(to_json(arrival_event()))
    wrong_types["payload"]["newcomer"]["date_of_birth"] = 12345
    unknown_version = json.loads(to_json(arrival_event()))
    unknown_version.update(version=9, min_reader_version=9)  # says older readers cannot read it
    huge = json.loads(to_json(arrival_event()))
    huge["payload"]["newcomer"]["full_name"] = "x" * 1_000_000        # a 1 MB message
    poison = [b"{this is not json", json.dumps(wrong_types).encode(), json.dumps(unknown_version).encode(),
              json.dumps(huge).encode()]
    dead_before = await dead_letters(installation)
    producer = AIOKafkaProducer(bootstrap_servers=installation.bootstrap, max_request_size=2_000_000)
    await producer.start()
    try:
        key = str(good.payload.case_id).encode()  # same key: same partition, the good ones queue behind
        for value in [*poison, json.dumps(compatible).encode(), to_json(good)]:
            await producer.send_and_wait(PREFIX + NEWCOMER_ARRIVED.topic, value=value, key=key)
    finally:
        await producer.stop()
    cases = {str(good.payload.case_id): expected["family"], compatible["payload"]["case_id"]: expected["family"]}
    verdict = await settle(client, installation, cases, timeout=60)
    deadline = time.monotonic() + 30
    while await dead_letters(installation) - dead_before < 12 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    counts = {"sent": 6, "poison": 4, "good": 2, "complete": verdict.complete, "missing": len(verdict.missing),
              "dead_lettered": await dead_letters(installation) - dead_before}
    REPORT["5-poison-events"] = counts
    emit(capsys, f"\n[faults] 5-poison-events: {json.dumps(counts)}")
    assert verdict.missing == [] and verdict.duplicated == []
    assert counts["dead_lettered"] == 4 * 3  # each poison event, once per consuming service
    for service in ("welcome_pack", "school_intake", "job_match"):
        assert installation.processes[service].poll() is None  # still running


def test_6_the_http_apis_fuzzed_from_their_openapi_documents_give_no_5xx(installation, capsys):
    examples = os.environ.get("FAULTS_FUZZ_EXAMPLES", "25")
    roles = {"registration": ("borgerservice", None), "welcome_pack": ("borgerservice", None),
             "school_intake": ("school_staff", "lindbjerg"), "job_match": ("jobcenter_adviser", None)}
    counts = {}
    for service, (role, school) in roles.items():
        token = installation.token(role, school)
        run = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "schemathesis") if (ROOT / ".venv" / "bin" / "schemathesis").exists()
             else "schemathesis", "run", f"{installation.urls[service]}/openapi.json",
             "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error", "-n", examples,
             "--seed", "20261127", "--report-dir", str(ROOT / "test-artifacts" / "schemathesis")],
            capture_output=True, text=True, timeout=600)
        summary = [line.strip() for line in run.stdout.splitlines() if "generated" in line]
        counts[service] = {"exit": run.returncode, "summary": summary[-1] if summary else run.stdout[-500:]}
        assert run.returncode == 0, f"{service}:\n{run.stdout[-3000:]}"
    REPORT["6-schemathesis"] = counts
    emit(capsys, f"\n[faults] 6-schemathesis: {json.dumps(counts)}")


def expected_mail_ids(cases: dict[str, dict]) -> set[str]:
    """The Message-IDs of the mails the units must get: one per intake task the rules give each household."""
    config = MunicipalityConfig.model_validate(load_municipality_file(ROOT / "services" / "school_intake", "herning"))
    ids = set()
    for case_id, body in cases.items():
        arrival = arrival_of(body, case_id=uuid.UUID(case_id))
        for decision in decide_intake(arrival, config):
            task_id = task_id_for(arrival.case_id, decision.child_index, decision.kind)
            ids.add(f"{notification_id(f'task-arrived:{task_id}')}@velkommen")
    return ids


async def test_7_the_mail_server_stopped_for_ten_seconds_during_load(installation, world, capsys):
    async def fault(result):
        await when_accepted(result, N // 3)
        await asyncio.to_thread(installation.stop_mail)
        await asyncio.sleep(10)  # mails wait as notifications, retried with backoff
        await asyncio.to_thread(installation.start_mail)

    counts = await run_with_fault(installation, world, "7-mail-server-stopped-10s", fault, capsys)
    expected = expected_mail_ids(counts["_cases"])
    deadline = time.monotonic() + 180
    while True:
        arrived = await mail_message_ids(installation)
        if expected <= set(arrived) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    # Then until no notification is pending anywhere (a late duplicate would still be on its way).
    client, _ = world
    pending = client[installation.databases["school_intake"]]["notifications"]
    while await pending.count_documents({}) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    arrived = await mail_message_ids(installation)
    mails = {"expected": len(expected), "delivered": len(expected & set(arrived)),
             "duplicated": sum(1 for i in expected if arrived[i] > 1),
             "failed_attempts_retried": await retried_mail_attempts(installation)}
    REPORT["7-mail-server-stopped-10s"]["mails"] = mails
    emit(capsys, f"[faults] 7-mail-server-stopped-10s mails: {json.dumps(mails)}")
    assert mails["delivered"] == mails["expected"] and mails["duplicated"] == 0, mails
    assert mails["failed_attempts_retried"] > 0, "the outage was not seen by the sender"


async def retried_mail_attempts(installation) -> float:
    """school_intake's count of mail attempts that failed and were retried (its /metrics)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{installation.urls['school_intake']}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("velkommen_notifications_total{") and 'outcome="retried"' in line)



async def test_8_school_intake_killed_with_sigkill_during_a_reminder_run(installation, world, capsys):
    """Every task still waiting for its unit is made overdue (due 10 days ago: a reminder to the unit and an
    escalation to the administration are owed); the mail server is stopped so the run's mails wait as
    notifications; school_intake runs its reminder job every 0.5 s and is killed (SIGKILL) as soon as the run has
    written reminders, then restarted (the job runs again at start) and the mail server started: every reminder
    the rules owe arrives exactly once (count and Message-IDs)."""
    client, _ = world
    db = client[installation.databases["school_intake"]]
    today = date.today()
    due, created = today - timedelta(days=10), datetime.now(UTC) - timedelta(days=20)
    config = MunicipalityConfig.model_validate(load_municipality_file(ROOT / "services" / "school_intake", "herning"))
    await db["intake_tasks"].update_many({"status": "new"}, {"$set": {"due_date": due.isoformat(),
                                                                      "created_at": created}})
    tasks = [t["_id"] async for t in db["intake_tasks"].find({"status": "new"}, {"_id": 1})]
    owed = reminders_due(TaskStatus.NEW, due, today, config.rules, created=created.date())
    expected = {f"{notification_id(f'task-{r.value}:{task}')}@velkommen" for task in tasks for r in owed}
    assert len(owed) == 2 and tasks, (owed, len(tasks))  # the scenario means something

    await asyncio.to_thread(installation.stop_mail)
    installation.kill_service("school_intake", signal.SIGTERM)
    await asyncio.to_thread(installation.start_service, "school_intake", True, REMINDER_CHECK_SECONDS="0.5")
    reminders = {"kind": {"$in": ["task_overdue", "task_escalated"]}}
    deadline = time.monotonic() + 60
    while not await db["notifications"].count_documents(reminders) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    written_at_kill = await db["notifications"].count_documents(reminders)
    installation.kill_service("school_intake")  # SIGKILL, in or right after the run
    await asyncio.to_thread(installation.start_service, "school_intake", True, REMINDER_CHECK_SECONDS="0.5")
    await asyncio.to_thread(installation.start_mail)

    deadline = time.monotonic() + 180
    while not expected <= set(arrived := await mail_message_ids(installation)) and time.monotonic() < deadline:
        await asyncio.sleep(1)
    while await db["notifications"].count_documents(reminders) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # a run or two more of the job: nothing new may come of them
    arrived = await mail_message_ids(installation)
    mails = {"tasks_overdue": len(tasks), "expected": len(expected), "written_before_the_kill": written_at_kill,
             "delivered": len(expected & set(arrived)), "duplicated": sum(1 for i in expected if arrived[i] > 1)}
    REPORT["8-sigkill-during-reminder-run"] = mails
    emit(capsys, f"[faults] 8-sigkill-during-reminder-run mails: {json.dumps(mails)}")
    assert mails["delivered"] == mails["expected"] and mails["duplicated"] == 0, mails
