"""Reading and writing test topics directly with aiokafka (the real broker)."""

from __future__ import annotations

import asyncio
import inspect
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Read a topic from the beginning until `expect` records arrived (or the timeout; then returns what came)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"reader-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def read_until_quiet(bootstrap: str, topic: str, *, at_least: int = 0, quiet_seconds: float = 2.0,
                           timeout: float = 60.0) -> list[ConsumerRecord]:
    """Read a topic from the beginning until at least `at_least` records came, its end (as of the start) is
    reached, and then nothing more came for `quiet_seconds`: an exactly-once check sees a late duplicate instead
    of stopping at the count it expects. Fails (TimeoutError) if that does not happen within `timeout`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"reader-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    loop = asyncio.get_running_loop()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        partitions = list(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        deadline = loop.time() + timeout
        quiet_since = None
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for recs in batch.values() for r in recs]
            records.extend(got)
            positions = [await consumer.position(tp) for tp in partitions]
            reached = all(position >= ends[tp] for position, tp in zip(positions, partitions, strict=True))
            now = loop.time()
            if got or not reached or len(records) < at_least:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_seconds:
                return records
            if now > deadline:
                raise TimeoutError(f"{topic} did not become quiet within {timeout:.0f}s ({len(records)} records)")
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, group: str, topics: list[str]) -> int:
    """Events in `topics` that `group` has not committed yet (0: it has handled everything there is)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
        assert {tp.topic for tp in partitions} == set(topics), f"unknown topics among {topics}"
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
        await consumer.stop()
    return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())


async def write(bootstrap: str, topic: str, values: list[bytes], key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Call `check()` (sync or async) until it returns a truthy value; return the last value after the timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)
