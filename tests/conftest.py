"""Shared fixtures. Servers: KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI when set, else testcontainers when a Docker
engine answers, else the project's own scripts (deploy/kafka.sh, deploy/ferretdb.sh) start real ones.

Each test session works in its own topics (a prefix) and its own databases, so runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
DEV_KEY_FILE = ROOT / ".data" / "test-auth" / "signing-key.pem"
S = TypeVar("S", bound=ServiceSettings)


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap_servers: str
    mongodb_uri: str
    run_id: str
    how: str
    smtp_port: int = 1025
    mailpit_url: str = "http://127.0.0.1:8025"   # Mailpit's HTTP API: what was sent

    def settings(self, cls: type[S], **overrides: object) -> S:
        """Settings of a service, pointed at this session's servers, topics and databases."""
        base = cls()
        values: dict[str, object] = {
            "kafka_bootstrap_servers": self.kafka_bootstrap_servers,
            "mongodb_uri": self.mongodb_uri,
            "kafka_topic_prefix": f"test-{self.run_id}.",
            "mongodb_database": f"test_{self.run_id}_{base.service_name}",
            "consumer_retry_backoff_seconds": 0.05,
            "outbox_poll_seconds": 0.2,
            # Tokens from the development issuer; its key lives beside the test data, never in the repository.
            "auth_dev_issuer": True,
            "auth_dev_key_file": str(DEV_KEY_FILE),
            "smtp_port": self.smtp_port,
            "notification_poll_seconds": 0.2,
        }
        values.update(overrides)
        return cls(**values)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "no Docker here"
        return False


def _start_local(names: tuple[str, ...]) -> list[Path]:
    """Start the project's servers that are not running yet; returns the scripts of those it started."""
    started = []
    for name in names:
        script = ROOT / "deploy" / f"{name}.sh"
        was_running = subprocess.run([script, "status"], capture_output=True).returncode == 0
        subprocess.run([script, "start"], check=True)
        if not was_running:
            started.append(script)
    return started


def _stop_local(started: list[Path]) -> None:
    if os.environ.get("VELKOMMEN_KEEP_INFRA") != "1":
        for script in reversed(started):
            subprocess.run([script, "stop"], check=False)


@contextlib.contextmanager
def _mail_server() -> Iterator[tuple[int, str]]:
    """SMTP_PORT and MAILPIT_URL when given, else Mailpit started by deploy/mailpit.sh (a real SMTP server)."""
    if os.environ.get("SMTP_PORT") and os.environ.get("MAILPIT_URL"):
        yield int(os.environ["SMTP_PORT"]), os.environ["MAILPIT_URL"]
        return
    started = _start_local(("mailpit",))
    try:
        yield int(os.environ.get("MAILPIT_SMTP_PORT", "1025")), \
            f"http://127.0.0.1:{os.environ.get('MAILPIT_HTTP_PORT', '8025')}"
    finally:
        _stop_local(started)


@contextlib.contextmanager
def _local_servers() -> Iterator[tuple[str, str]]:
    started = _start_local(("ferretdb", "kafka"))
    kafka_port = os.environ.get("KAFKA_PORT", "9092")
    mongo_port = os.environ.get("FERRETDB_PORT", "27017")
    try:
        yield f"127.0.0.1:{kafka_port}", f"mongodb://127.0.0.1:{mongo_port}/"
    finally:
        if ROOT / "deploy" / "kafka.sh" in started:
            asyncio.run(_delete_test_topics(f"127.0.0.1:{kafka_port}"))
        _stop_local(started)


async def _delete_test_topics(bootstrap: str) -> None:
    """The topics the tests made (all named test-...): the local broker keeps its data between runs, and each
    run's topics left behind made its metadata outgrow the broker's heap after a few hundred runs (seen: 12,000
    partitions, OutOfMemoryError, no topic created any more)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith("test-")]
        for start in range(0, len(topics), 500):
            await admin.delete_topics(topics[start:start + 500])
    finally:
        await admin.close()


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka, MongoDbContainer("mongo:7") as mongo:
        yield kafka.get_bootstrap_server(), mongo.get_connection_url()


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    run_id = uuid.uuid4().hex[:10]
    env_kafka, env_mongo = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URI")
    with _mail_server() as (smtp_port, mailpit_url):
        if env_kafka and env_mongo:
            yield Infrastructure(env_kafka, env_mongo, run_id, "environment", smtp_port, mailpit_url)
            return
        manager, how = (_containers(), "testcontainers") if _docker_answers() else (_local_servers(), "local scripts")
        with manager as (kafka, mongo):
            yield Infrastructure(kafka, mongo, run_id, how, smtp_port, mailpit_url)


@pytest.fixture(scope="session")
async def mongo_client(infrastructure: Infrastructure) -> AsyncIterator[AsyncMongoClient]:
    client = AsyncMongoClient(infrastructure.mongodb_uri, tz_aware=True)
    yield client
    for name in await client.list_database_names():
        if name.startswith(f"test_{infrastructure.run_id}"):
            await client.drop_database(name)
    await client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything that needs servers is marked `infra`: what asks for the session's servers, and the fault suite,
    # which starts a private Kafka and FerretDB of its own. `make test-unit` runs `-m "not infra and not tools"`.
    for item in items:
        if "infrastructure" in getattr(item, "fixturenames", ()) or item.get_closest_marker("faults"):
            item.add_marker(pytest.mark.infra)
