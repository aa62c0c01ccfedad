"""What every service process runs besides its HTTP routes: database and Kafka clients, the consumer, the relay.

A service's app.py lifespan opens a ServiceRuntime, creates its indexes, then starts its consumer and relay.
Start-up waits for the database and the broker (bounded), so services can be started before the infrastructure
is ready; shutdown finishes the batch in hand, commits, and closes clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from functools import partial
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared import bus, db
from shared.audit import AuditLog
from shared.erasure import ErasureLog
from shared.events import ALL_EVENTS
from shared.metrics import DatabaseCommands, ServiceMetrics
from shared.notify import NotificationSender, NotificationStore
from shared.outbox import (
    LOG_COLLECTION,
    CompactionTargets,
    OutboxCompactor,
    OutboxRelay,
    OutboxWrites,
    compact_plainly,
)
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _retry_until_up(what: str, attempt: Callable[[], Awaitable[T]], timeout: float) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.2
    while True:
        try:
            return await attempt()
        except (*db.TRANSIENT_DB_ERRORS, KafkaConnectionError, OSError) as exc:
            if loop.time() > deadline:
                raise RuntimeError(f"{what} not reachable after {timeout:.0f}s: {exc}") from exc
            log.info("waiting for %s (%s)", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3)


def outbox_compactor(database: AsyncDatabase, targets: CompactionTargets, erasures: ErasureLog, *, keep: float,
                     grace: float) -> OutboxCompactor:
    """The compactor of a service's outbox: its targets and its erasure tombstones (`keep` and `grace` in
    seconds, see shared.outbox)."""
    tombstones = erasures.tombstones
    return OutboxCompactor(
        CompactionTargets([*targets.collections, (tombstones, partial(compact_plainly, tombstones))], targets.turns),
        database[LOG_COLLECTION], keep=timedelta(seconds=keep), grace=timedelta(seconds=grace))


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, startup_timeout: float = 90.0,
                 metrics: ServiceMetrics | None = None):
        self.settings = settings
        self.metrics = metrics
        self.startup_timeout = startup_timeout
        self.mongo = db.connect(settings, [DatabaseCommands(metrics)] if metrics is not None else [])
        self.db = db.database(self.mongo, settings)
        self.producer = bus.create_producer(settings)
        self.consumer: bus.ConsumerRunner | None = None
        self.relay: OutboxRelay | None = None
        self.followers: list[bus.TopicFollower] = []
        self.senders: list[NotificationSender] = []
        self.audit = AuditLog(self.db, settings.service_name)
        # Stores write outbox-carrying collections through watch(): the relay then reads just what was written.
        self.outbox_writes = OutboxWrites()
        self.watch = self.outbox_writes.watch
        self.erasures = ErasureLog(self.db, settings, watch=self.watch)
        self._tasks: list[asyncio.Task] = []
        self._stopping = asyncio.Event()

    async def __aenter__(self) -> ServiceRuntime:
        await _retry_until_up("database", lambda: db.ping(self.db), self.startup_timeout)
        await _retry_until_up("Kafka", self.producer.start, self.startup_timeout)
        await bus.ensure_topics(self.settings, ALL_EVENTS)
        await self.audit.ensure_indexes()
        await self.erasures.ensure_indexes()
        return self

    def start_consumer(self, subscriptions: Iterable[bus.Subscription]) -> None:
        # Handlers write through watched collections, which wake the relay themselves.
        self.consumer = bus.ConsumerRunner(self.settings, subscriptions, self.producer, metrics=self.metrics)
        self._tasks.append(asyncio.create_task(self._run_consumer(), name="consumer"))

    async def _run_consumer(self) -> None:
        assert self.consumer is not None
        await _retry_until_up("Kafka consumer", self.consumer.start, self.startup_timeout)
        await self.consumer.run()

    def start_relay(self, collections: Iterable[AsyncCollection]) -> OutboxRelay:
        """Publish the pending events of these collections, and of the erasure tombstones (confirmations)."""
        self.relay = OutboxRelay(
            [*collections, self.erasures.tombstones],
            self.producer,
            self.db[LOG_COLLECTION],
            poll_seconds=self.settings.outbox_poll_seconds,
            linger_seconds=self.settings.outbox_linger_ms / 1000,
            scan_seconds=self.settings.outbox_scan_seconds,
            writes=self.outbox_writes,
            service=self.settings.service_name,
            metrics=self.metrics,
            lease_seconds=self.settings.outbox_lease_seconds,
        )
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        return self.relay

    def start_compaction(self, targets: CompactionTargets) -> OutboxCompactor:
        """Compact these collections' outboxes (and the erasure tombstones') and prune these turns, every
        OUTBOX_COMPACT_SECONDS (see shared.outbox: OutboxCompactor)."""
        compactor = outbox_compactor(self.db, targets, self.erasures, keep=self.settings.outbox_keep_seconds,
                                     grace=self.settings.outbox_compaction_grace_seconds)
        self.start_periodic("outbox-compaction", compactor.run_once, self.settings.outbox_compact_seconds,
                            first_after=self.settings.outbox_compact_seconds)
        return compactor

    def start_notifications(self, store: NotificationStore) -> NotificationSender:
        """Send this service's notifications in the background (see shared.notify)."""
        sender = NotificationSender(store, self.settings, metrics=self.metrics)
        self.senders.append(sender)
        self._tasks.append(asyncio.create_task(sender.run(), name="notifications"))
        return sender

    def start_follower(self, follower: bus.TopicFollower) -> bus.TopicFollower:
        """Read a topic in full in this process, beside the consumer group (see bus.TopicFollower)."""

        async def follow() -> None:
            await _retry_until_up(f"Kafka follower of {follower.topic}", follower.start, self.startup_timeout)
            await follower.run()

        self.followers.append(follower)
        self._tasks.append(asyncio.create_task(follow(), name=f"follower-{follower.topic}"))
        return follower

    async def ready(self) -> dict[str, bool]:
        """What /readyz reports: each dependency reachable now."""
        try:
            await asyncio.wait_for(db.ping(self.db), 2)
            database_ok = True
        except Exception:  # noqa: BLE001 - any failure means not ready
            database_ok = False
        kafka_ok = await bus.kafka_ready(self.producer)
        consumer_ok = all(not t.done() for t in self._tasks)
        return {"database": database_ok, "kafka": kafka_ok, "background_tasks": consumer_ok}

    def start_periodic(self, name: str, job: Callable[[], Awaitable[object]], every_seconds: float,
                       first_after: float = 0.0) -> None:
        """Run `job` after `first_after` seconds and then every `every_seconds` until shutdown; a failing run is
        logged and retried."""

        async def loop() -> None:
            try:
                await asyncio.wait_for(self._stopping.wait(), first_after)
            except TimeoutError:
                pass
            while not self._stopping.is_set():
                try:
                    await job()
                except Exception:  # a periodic job must survive a bad run (e.g. database down)
                    log.exception("periodic job %s failed; next run in %.0fs", name, every_seconds)
                try:
                    await asyncio.wait_for(self._stopping.wait(), every_seconds)
                except TimeoutError:
                    pass

        self._tasks.append(asyncio.create_task(loop(), name=name))

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping.set()
        if self.consumer is not None:
            await self.consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        for follower in self.followers:
            follower.stop()
        for sender in self.senders:
            sender.stop()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=15)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("background task %s ended with %r", task.get_name(), task.exception())
        await self.producer.stop()
        await self.mongo.close()
