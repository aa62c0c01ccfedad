"""A private installation for breaking things: its own Kafka and FerretDB (ports and data of their own, so
stopping them touches nothing else) and the four services as processes that can be killed and restarted.
Plus a load generator and the counts the fault scenarios report."""

from __future__ import annotations

import asyncio
import collections
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shared.auth import DevIssuer
from shared.dlq import dead_letter_topics
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")
PREFIX = "faults."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def consumed_topics(service: str) -> list[str]:
    handlers = importlib.import_module(f"services.{service}.handlers")
    return [PREFIX + spec.topic for spec in getattr(handlers, "CONSUMES", ())]


class Installation:
    def __init__(self, workdir: Path, service_env: dict[str, str] | None = None):
        self.workdir = workdir
        self.service_env = service_env or {}  # over the harness's own settings (the benchmarks: production's)
        self.kafka_port, self.controller_port, self.db_port = free_port(), free_port(), free_port()
        self.smtp_port, self.mailpit_port = free_port(), free_port()
        self.mailpit_url = f"http://127.0.0.1:{self.mailpit_port}"
        self.ports = {s: free_port() for s in SERVICES}
        self.urls = {s: f"http://127.0.0.1:{p}" for s, p in self.ports.items()}
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.mongodb_uri = f"mongodb://127.0.0.1:{self.db_port}/"
        self.key_file = workdir / "dev-auth" / "signing-key.pem"
        self.processes: dict[str, subprocess.Popen] = {}
        self.databases = {s: f"velkommen_faults_{s}" for s in SERVICES}

    # ------------------------------------------------------------------------------ infrastructure
    def _script(self, name: str, action: str) -> None:
        env = {**os.environ, "VELKOMMEN_DATA_DIR": str(self.workdir / "data"), "KAFKA_PORT": str(self.kafka_port),
               "KAFKA_CONTROLLER_PORT": str(self.controller_port), "FERRETDB_PORT": str(self.db_port),
               "MAILPIT_SMTP_PORT": str(self.smtp_port), "MAILPIT_HTTP_PORT": str(self.mailpit_port)}
        subprocess.run([str(ROOT / "deploy" / f"{name}.sh"), action], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def start_kafka(self) -> None:
        self._script("kafka", "start")

    def stop_kafka(self) -> None:
        self._script("kafka", "stop")

    def start_db(self) -> None:
        self._script("ferretdb", "start")

    def stop_db(self) -> None:
        self._script("ferretdb", "stop")

    def start_mail(self) -> None:
        self._script("mailpit", "start")

    def stop_mail(self) -> None:
        self._script("mailpit", "stop")

    # ------------------------------------------------------------------------------ services
    def start_service(self, service: str, wait: bool = True, **extra_env: str) -> None:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "MONGODB_URI": self.mongodb_uri,
            "KAFKA_TOPIC_PREFIX": PREFIX, "MONGODB_DATABASE": self.databases[service],
            "OUTBOX_POLL_SECONDS": "0.5", "CONSUMER_RETRY_BACKOFF_SECONDS": "0.2",
            # Periodic jobs that publish (the waiting line's positions) as often as the relays poll: a scenario
            # that waits for the topics to settle then sees everything owed published.
            "WAITLIST_POSITIONS_SECONDS": "0.5",
            "AUTH_DEV_ISSUER": "true", "AUTH_DEV_KEY_FILE": str(self.key_file),
            "SMTP_PORT": str(self.smtp_port), "NOTIFICATION_POLL_SECONDS": "0.5",
            **{f"{s.upper()}_URL": url for s, url in self.urls.items()},
            **self.service_env,
            **extra_env,
        }
        log = open(self.workdir / f"{service}.log", "a")
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "shared.serve", service, "--port", str(self.ports[service])],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[service].poll() is not None:
                raise RuntimeError(f"{service} exited:\n{self.log_tail(service)}")
            try:
                if httpx.get(f"{self.urls[service]}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{service} not ready after {timeout} s:\n{self.log_tail(service)}")

    def kill_service(self, service: str, sig: int = signal.SIGKILL) -> int:
        process = self.processes[service]
        process.send_signal(sig)
        return process.wait(timeout=30)

    def log_tail(self, service: str) -> str:
        return (self.workdir / f"{service}.log").read_text()[-3000:]

    def start(self) -> None:
        self.start_db()
        self.start_kafka()
        self.start_mail()
        for service in SERVICES:
            self.start_service(service, wait=False)
        for service in SERVICES:
            self.wait_ready(service)

    def stop(self) -> dict[str, int]:
        codes = {}
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for service, process in self.processes.items():
            try:
                codes[service] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[service] = process.wait()
        for action in (self.stop_kafka, self.stop_db, self.stop_mail):
            try:
                action()
            except subprocess.CalledProcessError:
                pass
        return codes

    def token(self, role: str, school_id: str | None = None) -> str:
        return DevIssuer(self.key_file).token(role, audience="velkommen", school_id=school_id, name="Fault Tester")


# ---------------------------------------------------------------------------------------------- load

@dataclass
class LoadResult:
    sent: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> case id, answered 201/200
    retried_requests: int = 0                           # 503s and connection errors, retried with the same key
    refused: list[str] = field(default_factory=list)   # 4xx answers (a bug for valid bodies)


async def register_load(inst: Installation, bodies: list[dict], run: str, *, concurrency: int = 16,
                        rate: float | None = None, give_up_after: float = 180.0,
                        into: LoadResult | None = None) -> LoadResult:
    """POST every body with its own Idempotency-Key, at most `rate` per second (so that a fault lands in the
    middle of the load); on 5xx or a connection error, retry with the same key (as a client must) until
    accepted. An accepted registration must then get all its outputs."""
    result = into or LoadResult(sent=len(bodies))
    headers = {"Authorization": f"Bearer {inst.token('borgerservice')}"}
    queue: asyncio.Queue[tuple[int, dict]] = asyncio.Queue()
    for item in enumerate(bodies):
        queue.put_nowait(item)

    started = time.monotonic()

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            i, body = queue.get_nowait()
            if rate:
                await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            key = f"{run}-{i}"
            deadline = time.monotonic() + give_up_after
            while True:
                try:
                    response = await http.post(f"{inst.urls['registration']}/registrations", json=body,
                                               headers={**headers, "Idempotency-Key": key})
                    if response.status_code in (200, 201):
                        result.accepted[key] = response.json()["case_id"]
                        break
                    if response.status_code < 500:
                        result.refused.append(f"{key}: {response.status_code} {response.text[:200]}")
                        break
                except httpx.HTTPError:
                    pass
                result.retried_requests += 1
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)

    async with httpx.AsyncClient(timeout=10) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return result


# ---------------------------------------------------------------------------------------------- counts

@dataclass
class Outputs:
    letters: collections.Counter
    tasks: collections.Counter
    leads: collections.Counter

    def total(self) -> int:
        return sum(self.letters.values()) + sum(self.tasks.values()) + sum(self.leads.values())


async def outputs(client: AsyncMongoClient, inst: Installation) -> Outputs:
    async def count(service: str, collection: str) -> collections.Counter:
        coll = client[inst.databases[service]][collection]
        return collections.Counter([d["case_id"] async for d in coll.find({}, {"case_id": 1})])

    return Outputs(await count("welcome_pack", "letters"), await count("school_intake", "intake_tasks"),
                   await count("job_match", "leads"))


@dataclass
class Verdict:
    cases: int
    complete: int
    missing: list[str]
    duplicated: list[str]


def judge(out: Outputs, cases: dict[str, tuple[int, int]]) -> Verdict:
    """cases: case id -> (expected intake tasks, expected leads); every case expects exactly one letter."""
    missing, duplicated = [], []
    for case_id, (tasks, leads) in cases.items():
        got = (out.letters[case_id], out.tasks[case_id], out.leads[case_id])
        if got[0] > 1 or got[1] > tasks or got[2] > leads:
            duplicated.append(f"{case_id}: letters/tasks/leads {got}, expected (1, {tasks}, {leads})")
        elif got != (1, tasks, leads):
            missing.append(f"{case_id}: letters/tasks/leads {got}, expected (1, {tasks}, {leads})")
    return Verdict(len(cases), len(cases) - len(missing) - len(duplicated), missing, duplicated)


async def settle(client: AsyncMongoClient, inst: Installation, cases: dict[str, tuple[int, int]],
                 timeout: float = 240.0) -> Verdict:
    """Wait until every case has its outputs (or the timeout); then until nothing more is on its way, and judge
    again: a duplicate that comes late is counted, not missed."""
    deadline = time.monotonic() + timeout
    while True:
        verdict = judge(await outputs(client, inst), cases)
        if verdict.duplicated or time.monotonic() > deadline:
            return verdict
        if not verdict.missing:
            await quiet(inst, deadline)
            return judge(await outputs(client, inst), cases)
        await asyncio.sleep(1.0)


async def quiet(inst: Installation, deadline: float, checks: int = 2, interval: float = 1.0) -> bool:
    """Every service's consumer group has handled all there is on its topics, `checks` times in a row
    `interval` apart (a relay still publishing shows as lag again). False if the deadline came first."""
    in_a_row = 0
    while time.monotonic() < deadline:
        lags = [await group_lag(inst, service) for service in SERVICES]
        in_a_row = in_a_row + 1 if not any(lags) else 0
        if in_a_row >= checks:
            return True
        await asyncio.sleep(interval)
    return False


async def mail_message_ids(inst: Installation) -> collections.Counter:
    """How often each Message-ID arrived at the installation's Mailpit (a mail sent twice is stored twice)."""
    counts: collections.Counter = collections.Counter()
    async with httpx.AsyncClient(timeout=30) as http:
        start = 0
        while True:
            page = (await http.get(f"{inst.mailpit_url}/api/v1/messages", params={"start": start, "limit": 500})).json()
            counts.update(m["MessageID"] for m in page["messages"])
            start += len(page["messages"])
            if not page["messages"] or start >= page["total"]:
                return counts


async def dead_letters(inst: Installation) -> int:
    """Messages in all dead-letter topics of the installation (what `python -m shared.dlq list` counts)."""
    settings = ServiceSettings(kafka_bootstrap_servers=inst.bootstrap, kafka_topic_prefix=PREFIX)
    return sum((await dead_letter_topics(settings)).values())


async def partitions_of(inst: Installation, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=inst.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


async def end_offsets_of(inst: Installation, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=inst.bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def topic_sizes(inst: Installation, topics: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = collections.Counter()
    for tp, end in (await end_offsets_of(inst, await partitions_of(inst, topics))).items():
        sizes[tp.topic] += end
    return dict(sizes)


async def reset_group_to_beginning(inst: Installation, service: str) -> None:
    """Rewind a (stopped) service's consumer group to the start of every topic it consumes."""
    partitions = await partitions_of(inst, consumed_topics(service))
    consumer = AIOKafkaConsumer(bootstrap_servers=inst.bootstrap, group_id=PREFIX + service,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.commit(await consumer.beginning_offsets(partitions))
    finally:
        await consumer.stop()


async def lag_of(inst: Installation, group: str, topics: list[str]) -> int:
    """Events in `topics` that `group` has not committed yet."""
    partitions = await partitions_of(inst, topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=inst.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    ends = await end_offsets_of(inst, partitions)
    return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())


async def group_lag(inst: Installation, service: str) -> int:
    """Events in the topics a service consumes that its group has not committed yet."""
    return await lag_of(inst, PREFIX + service, consumed_topics(service))
