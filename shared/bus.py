"""Kafka: producer factory, topic creation, and the at-least-once consumer runner every service uses.

The runner commits a partition's offset only after the handler's effect is stored, so a crash redelivers
rather than loses; handlers are therefore idempotent. An event that can never be handled goes to
`<topic>.dlq` with the reason in its headers, and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaConnectionError,
    KafkaError,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from pydantic import BaseModel

from shared.db import TRANSIENT_DB_ERRORS
from shared.events import EventEnvelope, EventSpec, UnreadableEvent
from shared.logs import log_context
from shared.metrics import ServiceMetrics
from shared.settings import ServiceSettings
from shared.tracing import consuming

log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, KafkaConnectionError, asyncio.TimeoutError)


# After a broker restart, aiokafka's idempotent producer can be left with sequence numbers the broker refuses
# (OutOfOrderSequenceNumber) and never recovers (aio-libs/aiokafka#1017): we measured every send failing for
# minutes. The cure is a new producer (a new producer id). Sends that failed are retried by their callers.
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch)


class Producer:
    """The service's idempotent Kafka producer (a retried send is written once per partition; acks=all),
    replaced by a fresh one when it reports one of FATAL_PRODUCER_ERRORS."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self._producer = self._new()
        self.renewals = 0

    def _new(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            client_id=self.settings.service_name,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            request_timeout_ms=15000,
        )

    @property
    def client(self):  # aiokafka's client, for readiness checks
        return self._producer.client

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, *, value: bytes | None, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future:
        return await self._producer.send(topic, value=value, key=key, headers=headers)

    async def send_and_wait(self, topic: str, *, value: bytes | None, key: bytes | None = None,
                            headers: list[tuple[str, bytes]] | None = None) -> Any:
        try:
            return await self._producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except FATAL_PRODUCER_ERRORS:
            await self.renew()
            raise

    async def renew(self) -> None:
        old, self._producer = self._producer, self._new()
        self.renewals += 1
        log.warning("Kafka producer refused by the broker (idempotence state lost); replacing it")
        await self._producer.start()
        try:
            await asyncio.wait_for(old.stop(), 10)
        except Exception:  # the old producer is broken anyway
            log.debug("stopping the old producer failed", exc_info=True)


def create_producer(settings: ServiceSettings) -> Producer:
    return Producer(settings)


async def ensure_topics(settings: ServiceSettings, specs: Iterable[EventSpec]) -> None:
    """Create the topics (and their dead-letter topics) if they do not exist yet."""
    names = {settings.topic(s.topic) for s in specs}
    names |= {dead_letter_topic(n) for n in names}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=n, num_partitions=settings.kafka_topic_partitions, replication_factor=1)
            for n in sorted(names - existing)
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another service created it meanwhile
    finally:
        await admin.close()


async def topic_partitions(settings: ServiceSettings, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions", ()))


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


P = TypeVar("P", bound=BaseModel)
Handler = Callable[[EventEnvelope[P]], Awaitable[None]]
BatchHandler = Callable[[list[EventEnvelope[P]]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription(Generic[P]):
    """One consumed event and the function that handles it.

    `handle_batch`, when given, receives all readable events of one poll of the topic at once, each partition's
    in order (one database round trip per batch instead of per event). If it fails with anything but a
    transient error, the events are handled one by one with `handle`, so that a bad event is isolated and
    dead-lettered alone.
    """

    spec: EventSpec[P]
    handle: Handler[P]
    handle_batch: BatchHandler[P] | None = None


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0
    reconnects: int = 0
    commits: int = 0


# aiokafka fetches a partition again only once its buffered records have been taken, and sends one fetch at a
# time to a broker. While buffered records are younger than its "prefetch backoff" (100 ms, not a setting) no fetch
# goes out; after it, a fetch of the partitions with nothing buffered does. While a handler works longer than that,
# the fetch names only the quiet partitions, the broker holds it for the whole fetch_max_wait_ms (5 s here), and
# the busy partitions, drained meanwhile, wait behind it. Seen at 50 arrivals/s: every consumer handled a burst,
# then nothing for ~5 s, end to end p50 4.7 s (500 ms with a 500 ms wait). Holding the buffer longer than any pass
# makes the fetcher wait until it is taken and then fetch every partition at once.
PREFETCH_HOLD_SECONDS = 300.0


def _fetch_when_drained(consumer: AIOKafkaConsumer) -> None:
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_prefetch_backoff"):
        raise RuntimeError("aiokafka's fetcher has no _prefetch_backoff any more: see PREFETCH_HOLD_SECONDS")
    fetcher._prefetch_backoff = PREFETCH_HOLD_SECONDS


class _CommitBeforeRevoking(ConsumerRebalanceListener):
    """In a rebalance, the offsets handled but not committed yet are committed before the partitions go to
    another consumer (which would otherwise get those events again)."""

    def __init__(self, runner: ConsumerRunner, consumer: AIOKafkaConsumer):
        self.runner = runner
        self.consumer = consumer  # the one it listens to (a reconnect makes a new one)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if self.consumer is self.runner.consumer:
            await self.runner._commit_handled(now=True)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass


class ConsumerRunner:
    """Consumes the subscribed topics in one consumer group; see the module docstring for the guarantees."""

    def __init__(self, settings: ServiceSettings, subscriptions: Iterable[Subscription], producer: Producer,
                 metrics: ServiceMetrics | None = None):
        self.settings = settings
        self.metrics = metrics
        self.producer = producer
        self.by_topic = {settings.topic(s.spec.topic): s for s in subscriptions}
        self.stats = ConsumerStats()
        self.consumer: AIOKafkaConsumer | None = None
        self._last_behind: dict[TopicPartition, int] | None = None
        self._streaming = False  # the last poll brought records
        self._stopping = asyncio.Event()
        # Offsets of handled events not committed yet (see consumer_commit_interval_ms), and when it last committed.
        self._handled: dict[TopicPartition, int] = {}
        self._committed_at = 0.0

    def _new_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.consumer_group,
            client_id=self.settings.service_name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
            fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms,
        )
        consumer.subscribe(list(self.by_topic), listener=_CommitBeforeRevoking(self, consumer))
        return consumer

    async def start(self) -> None:
        self.consumer = self._new_consumer()
        await self.consumer.start()
        _fetch_when_drained(self.consumer)

    async def _stalled(self) -> bool:
        """Unread events and no progress: the group's committed offsets have not moved since the last check
        while the topics hold more. (Also true when another replica of the group is the stuck one; a
        reconnect then only costs a rebalance.)"""
        assert self.consumer is not None
        partitions = [TopicPartition(t, p) for t in self.by_topic for p in self.consumer.partitions_for_topic(t) or ()]
        if not partitions:
            return False
        try:
            ends = await asyncio.wait_for(self.consumer.end_offsets(partitions), 10)
            committed = {tp: await asyncio.wait_for(self.consumer.committed(tp), 10) for tp in partitions}
        except (TimeoutError, KafkaError):
            return True  # cannot even ask: a reconnect is the way out
        behind = {tp: c or 0 for tp, c in committed.items() if (c or 0) < ends[tp]}
        stalled = bool(behind) and behind == self._last_behind
        self._last_behind = behind
        return stalled

    async def _reconnect(self) -> None:
        assert self.consumer is not None
        self.stats.reconnects += 1
        old, self.consumer = self.consumer, self._new_consumer()
        try:
            await asyncio.wait_for(old.stop(), 15)
        except Exception:  # the old consumer is what is broken
            log.debug("stopping the stalled consumer failed", exc_info=True)
        await self.consumer.start()
        _fetch_when_drained(self.consumer)

    async def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll, handle, commit; until stop() is called. Finishes the batch in hand before returning."""
        assert self.consumer is not None, "start() first"
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        try:
            while not self._stopping.is_set():
                batches = await self._poll()
                if not batches:
                    await self._commit_handled()
                    if loop.time() - last_progress > self.settings.consumer_stall_seconds:
                        last_progress = loop.time()
                        await self._reconnect_if_stalled()
                    continue
                last_progress = loop.time()
                await self._handle(batches)
                self._handled.update({tp: records[-1].offset + 1 for tp, records in batches.items()})
                await self._commit_handled()
                self._report_lag(batches)
        finally:
            await self._commit_handled(now=True)
            await self.consumer.stop()

    async def _poll(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The records of one poll. While events keep coming (the poll before brought some too), and the batch has
        room, also those that arrive within CONSUMER_LINGER_MS: under load one pass then handles what would
        otherwise be several passes of an event or two each; after a quiet spell an event is handled at once."""
        assert self.consumer is not None
        room = self.settings.consumer_max_records
        batches = await self.consumer.getmany(timeout_ms=500, max_records=room)
        room -= sum(len(records) for records in batches.values())
        streaming, self._streaming = self._streaming, bool(batches)
        if batches and streaming and room > 0 and self.settings.consumer_linger_ms:
            await asyncio.sleep(self.settings.consumer_linger_ms / 1000)
            for tp, records in (await self.consumer.getmany(timeout_ms=0, max_records=room)).items():
                batches.setdefault(tp, []).extend(records)  # later records of a partition come after its earlier
        return batches

    async def _reconnect_if_stalled(self) -> None:
        # After a broker restart an aiokafka consumer can stay in its group yet fetch nothing, for good (seen in
        # the fault suite: no progress for minutes). A new consumer resumes from the committed offsets.
        if await self._stalled():
            log.warning("consumer made no progress for %.0fs with events waiting; reconnecting",
                        self.settings.consumer_stall_seconds)
            await self._reconnect()

    async def _handle(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        # All partitions' records of a topic go to the handler together (each partition's in order): under load
        # that is one database round trip per poll rather than one per partition. The topics go in the order of
        # the subscriptions, not of the fetch (which aiokafka shuffles): a service lists first the events that
        # bring a case (NewcomerArrived), so when a case's arrival and an event caused by it (school_intake's
        # status of its child) come in one poll, the arrival is handled first.
        by_topic: dict[str, list[ConsumerRecord]] = {topic: [] for topic in self.by_topic}
        for tp, records in batches.items():
            by_topic[tp.topic].extend(records)
        for topic, records in by_topic.items():
            if not records:
                continue
            subscription = self.by_topic[topic]
            if subscription.handle_batch is not None and len(records) > 1:
                await self._process_batch(subscription, records)
            else:
                for record in records:
                    await self._process(record)

    def _report_lag(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if self.metrics is None or self.consumer is None:
            return
        for tp, records in batches.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(highwater - records[-1].offset - 1, 0))

    async def _commit_handled(self, now: bool = False) -> None:
        """Commit the handled events' offsets once CONSUMER_COMMIT_INTERVAL_MS has passed since the last commit
        (at once with `now`). Only ever offsets of events whose effect is stored: a crash redelivers, never skips."""
        loop = asyncio.get_running_loop()
        interval = self.settings.consumer_commit_interval_ms / 1000
        if not self._handled or not (now or loop.time() - self._committed_at >= interval):
            return
        offsets, self._handled = self._handled, {}
        self._committed_at = loop.time()
        assert self.consumer is not None
        # Partitions a rebalance took away meanwhile are their new owner's to commit (it gets their events again).
        assigned = self.consumer.assignment()
        if offsets := {tp: offset for tp, offset in offsets.items() if tp in assigned}:
            await self._commit(offsets)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        self.stats.commits += 1
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            # A rebalance took partitions away: their records come again to whoever owns them (handlers are
            # idempotent).
            log.warning("commit of %s failed (%s); records will be redelivered", offsets, exc)

    async def _process_batch(self, subscription: Subscription, records: list[ConsumerRecord]) -> None:
        assert subscription.handle_batch is not None
        readable: list[tuple[ConsumerRecord, EventEnvelope]] = []
        for record in records:
            try:
                readable.append((record, subscription.spec.parse(record.value)))
            except UnreadableEvent as exc:
                await self._dead_letter(record, str(exc), attempts=1)
        attempt = 0
        while readable:
            attempt += 1
            try:
                started = time.perf_counter()
                with consuming(self.settings.service_name, subscription.spec.topic, subscription.spec.type,
                               [r.headers for r, _ in readable]):
                    await subscription.handle_batch([event for _, event in readable])
                self.stats.handled += len(readable)
                self._count(subscription.spec.topic, "ok", len(readable), time.perf_counter() - started)
                return
            except TRANSIENT_ERRORS as exc:
                self.stats.retried += 1
                self._count(subscription.spec.topic, "retried", len(readable))
                delay = min(self.settings.consumer_retry_backoff_seconds * 2 ** min(attempt, 6), 30)
                log.warning("transient error handling a batch of %d (attempt %d): %r; retrying in %.1fs",
                            len(readable), attempt, exc, delay)
                await asyncio.sleep(delay)
            except Exception:  # isolate the bad event: one by one, each with its own retries
                log.exception("batch of %d failed; handling its events one by one", len(readable))
                for record, _ in readable:
                    await self._process(record)
                return

    async def _process(self, record: ConsumerRecord) -> None:
        subscription = self.by_topic[record.topic]
        try:
            event = subscription.spec.parse(record.value)
        except UnreadableEvent as exc:
            await self._dead_letter(record, str(exc), attempts=1)
            return
        attempt = 0
        payload = event.payload
        with log_context(event_id=event.event_id, correlation_id=event.correlation_id,
                         case_id=getattr(payload, "case_id", None)):
            while True:
                attempt += 1
                try:
                    started = time.perf_counter()
                    with consuming(self.settings.service_name, subscription.spec.topic, subscription.spec.type,
                                   [record.headers]):
                        await subscription.handle(event)
                    self.stats.handled += 1
                    self._count(subscription.spec.topic, "ok", 1, time.perf_counter() - started)
                    return
                except Exception as exc:  # noqa: BLE001 - sorted out below
                    if not await self._failed(record, event, exc, attempt, subscription.spec.topic):
                        return

    async def _failed(self, record: ConsumerRecord, event: EventEnvelope, exc: Exception, attempt: int,
                      topic: str) -> bool:
        """After a failed attempt: wait and return True to try again, or dead-letter and return False."""
        if isinstance(exc, TRANSIENT_ERRORS):
            # Infrastructure is down: wait and retry for as long as it takes; never skip the event.
            self.stats.retried += 1
            self._count(topic, "retried", 1)
            delay = min(self.settings.consumer_retry_backoff_seconds * 2 ** min(attempt, 6), 30)
            log.warning("transient error handling %s (attempt %d): %r; retrying in %.1fs", event.event_id, attempt,
                        exc, delay)
            await asyncio.sleep(delay)
            return True
        # A handler bug must not stop the partition forever.
        if attempt >= self.settings.consumer_max_attempts:
            log.error("event %s failed %d times; dead-lettering", event.event_id, attempt, exc_info=exc)
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}", attempts=attempt)
            return False
        self.stats.retried += 1
        self._count(topic, "retried", 1)
        await asyncio.sleep(self.settings.consumer_retry_backoff_seconds * attempt)
        return True

    def _count(self, topic: str, outcome: str, n: int, seconds: float | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.events_consumed.labels(topic, outcome).inc(n)
        if seconds is not None:
            self.metrics.handler_seconds.labels(topic).observe(seconds / max(n, 1))

    async def _dead_letter(self, record: ConsumerRecord, reason: str, attempts: int) -> None:
        headers: list[tuple[str, bytes]] = [
            ("dlq.reason", reason[:2000].encode()),
            ("dlq.attempts", str(attempts).encode()),
            ("dlq.original.topic", record.topic.encode()),
            ("dlq.original.partition", str(record.partition).encode()),
            ("dlq.original.offset", str(record.offset).encode()),
            ("dlq.consumer.group", self.settings.consumer_group.encode()),
        ]
        # Keep what the message carried (trace context, "replayed from"), except an older dead letter's details.
        headers += [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq.") or k == "dlq.replayed-from"]
        while True:
            try:
                await self.producer.send_and_wait(
                    dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers
                )
                break
            except KafkaError as exc:
                log.warning("cannot write dead letter yet (%r); retrying", exc)
                await asyncio.sleep(1)
        self.stats.dead_lettered += 1
        self._count(record.topic.removeprefix(self.settings.kafka_topic_prefix), "dead_lettered", 1)
        log.error("dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)


class TopicFollower(Generic[P]):
    """Reads every partition of one topic, outside any consumer group, from the beginning and then as events
    come: for state that EVERY replica must hold (job_match's listing index), where a consumer group would
    give each replica only its share. Offsets are not committed; each process reads the topic again at start.

    `caught_up()` waits until everything on the topic at the moment of the call has been applied: a handler
    that must see what was published before it started (an arrival matched against the listings) calls it.
    """

    def __init__(self, settings: ServiceSettings, spec: EventSpec[P],
                 apply: Callable[[list[EventEnvelope[P]]], None], *, catch_up_seconds: float = 10.0):
        self.settings = settings
        self.spec = spec
        self.topic = settings.topic(spec.topic)
        self.apply = apply
        self.catch_up_seconds = catch_up_seconds
        self.applied = 0
        self._consumer: AIOKafkaConsumer | None = None
        # caught_up() asks the topic's end offsets through a client of its own: a broker answers the requests of
        # one connection in order, so on the reading consumer's connection the question waits behind the fetch
        # the broker is holding (up to consumer_fetch_max_wait_ms) whenever the topic is quiet.
        self._offsets: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._progress = asyncio.Condition()
        self._started = asyncio.Event()
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    client_id=f"{self.settings.service_name}-follower", enable_auto_commit=False,
                                    auto_offset_reset="earliest",
                                    fetch_max_wait_ms=self.settings.consumer_fetch_max_wait_ms)
        offsets = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                   client_id=f"{self.settings.service_name}-follower-offsets",
                                   enable_auto_commit=False)
        await consumer.start()
        try:
            await offsets.start()
            partitions = await topic_partitions(self.settings, self.topic)
            if not partitions:
                raise KafkaConnectionError(f"no partitions known for {self.topic} yet")
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
        except BaseException:
            await asyncio.gather(consumer.stop(), offsets.stop(), return_exceptions=True)
            raise
        self._partitions, self._consumer, self._offsets = partitions, consumer, offsets
        self._started.set()

    async def run(self) -> None:
        assert self._consumer is not None, "start() first"
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(timeout_ms=500)
                events = []
                for records in batches.values():
                    for record in records:
                        try:
                            events.append(self.spec.parse(record.value))
                        except UnreadableEvent:
                            pass  # the service's consumer group dead-letters it; here it is simply not state
                if events:
                    self.apply(events)
                    self.applied += len(events)
                async with self._progress:
                    self._progress.notify_all()
        finally:
            await self._consumer.stop()
            if self._offsets is not None:
                await self._offsets.stop()

    def stop(self) -> None:
        self._stopping.set()

    async def caught_up(self) -> bool:
        """True once every event on the topic when this was called is applied; False after catch_up_seconds
        (logged: the caller goes on with what it has)."""
        try:
            await asyncio.wait_for(self._started.wait(), self.catch_up_seconds)
            assert self._consumer is not None and self._offsets is not None
            consumer = self._consumer
            ends = await asyncio.wait_for(self._offsets.end_offsets(self._partitions), self.catch_up_seconds)

            async def reached() -> None:
                async with self._progress:
                    while True:
                        positions = {tp: await consumer.position(tp) for tp in self._partitions}
                        if all(positions[tp] >= ends[tp] for tp in self._partitions):
                            return
                        await self._progress.wait()

            await asyncio.wait_for(reached(), self.catch_up_seconds)
            return True
        except (TimeoutError, KafkaError) as exc:
            log.warning("%s not caught up within %.0fs (%r); going on with what was read", self.topic,
                        self.catch_up_seconds, exc)
            return False


async def kafka_ready(producer: Producer, timeout: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout)
        return True
    except Exception:  # noqa: BLE001 - readiness: any failure means "not ready"
        return False

