"""Dead letters: list, inspect and replay them.

    python -m shared.dlq list                                  every dead-letter topic and how many it holds
    python -m shared.dlq show onboarding.newcomer-arrived.v1.dlq [--values]
    python -m shared.dlq replay onboarding.newcomer-arrived.v1.dlq --at 0:17 --at 3:2
    python -m shared.dlq replay onboarding.newcomer-arrived.v1.dlq --all-new

A replay writes the message back to its original topic (from the dlq.original.topic header) with a
`dlq.replayed-from` header; every consumer of that topic sees it again, which is safe because every handler is
idempotent. `--all-new` replays what was not replayed before (the replayer's consumer group remembers the
position). Values can hold personal data: `show` prints them only with --values. Topic names are given without
KAFKA_TOPIC_PREFIX; the prefix of the environment is added.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import ServiceSettings

DLQ_SUFFIX = ".dlq"
REPLAYER_GROUP = "dlq-replayer"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return self.headers.get("dlq.reason", "")

    @property
    def original_topic(self) -> str | None:
        return self.headers.get("dlq.original.topic")


async def _partitions(settings: ServiceSettings, names: list[str] | None = None) -> dict[str, list[TopicPartition]]:
    """The partitions of the named topics (default: every dead-letter topic of this installation's prefix)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        if names is None:
            names = sorted(t for t in await admin.list_topics()
                           if t.endswith(DLQ_SUFFIX) and t.startswith(settings.kafka_topic_prefix))
        described = await admin.describe_topics(names) if names else []
    finally:
        await admin.close()
    return {d["topic"]: sorted((TopicPartition(d["topic"], p["partition"]) for p in d["partitions"]),
                               key=lambda tp: tp.partition)
            for d in described if d["partitions"]}


async def dead_letter_topics(settings: ServiceSettings) -> dict[str, int]:
    """Dead-letter topics of this installation (prefix) and how many messages each holds."""
    counts = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        for name, partitions in (await _partitions(settings)).items():
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            counts[name] = sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()
    return counts


async def read_dead_letters(settings: ServiceSettings, topic: str, *,
                            from_group: str | None = None) -> list[DeadLetter]:
    """Every message of a dead-letter topic (or, with `from_group`, those after that group's position)."""
    partitions = (await _partitions(settings, [topic])).get(topic)
    if not partitions:
        raise SystemExit(f"no topic {topic!r}")
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False,
                                group_id=from_group, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp) if from_group else None
            if committed is not None:
                consumer.seek(tp, committed)
            else:
                await consumer.seek_to_beginning(tp)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    letters.append(DeadLetter(
                        topic=r.topic, partition=r.partition, offset=r.offset,
                        timestamp=datetime.fromtimestamp(r.timestamp / 1000, UTC), key=r.key, value=r.value,
                        headers={k: v.decode(errors="replace") for k, v in (r.headers or ())}))
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return sorted(letters, key=lambda d: (d.partition, d.offset))


async def replay(settings: ServiceSettings, topic: str, *, positions: set[str] | None = None,
                 all_new: bool = False) -> list[DeadLetter]:
    """Write the chosen dead letters back to their original topics; returns what was replayed."""
    group = settings.topic(REPLAYER_GROUP) if all_new else None
    letters = await read_dead_letters(settings, topic, from_group=group)
    chosen = [d for d in letters if all_new or d.position in (positions or set())]
    missing = (positions or set()) - {d.position for d in letters}
    if missing:
        raise SystemExit(f"not in {topic}: {', '.join(sorted(missing))}")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True)
    await producer.start()
    try:
        for letter in chosen:
            if not letter.original_topic:
                raise SystemExit(f"{letter.position} has no dlq.original.topic header; cannot replay it")
            await producer.send_and_wait(letter.original_topic, value=letter.value, key=letter.key,
                                         headers=[("dlq.replayed-from", f"{topic}:{letter.position}".encode())])
    finally:
        await producer.stop()
    if all_new and letters:
        await _remember_position(settings, topic, group, letters)
    return chosen


async def _remember_position(settings: ServiceSettings, topic: str, group: str | None,
                             letters: list[DeadLetter]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        last: dict[TopicPartition, int] = {}
        for d in letters:
            last[TopicPartition(topic, d.partition)] = d.offset + 1
        consumer.assign(list(last))
        await consumer.commit(last)
    finally:
        await consumer.stop()


def _print_letter(letter: DeadLetter, with_value: bool) -> None:
    h = letter.headers
    print(f"{letter.position}  {letter.timestamp:%Y-%m-%d %H:%M:%S}  from {h.get('dlq.original.topic')}"
          f"[{h.get('dlq.original.partition')}]@{h.get('dlq.original.offset')}  group {h.get('dlq.consumer.group')}"
          f"  attempts {h.get('dlq.attempts')}")
    print(f"    reason: {letter.reason}")
    if "dlq.replayed-from" in h:
        print(f"    (itself a replay of {h['dlq.replayed-from']})")
    if with_value:
        print(f"    key: {letter.key!r}")
        print(f"    value: {(letter.value or b'').decode(errors='replace')[:4000]}")


async def _main(args: argparse.Namespace) -> int:
    settings = ServiceSettings()
    if args.command == "list":
        counts = await dead_letter_topics(settings)
        for name, count in counts.items():
            print(f"{count:8d}  {name.removeprefix(settings.kafka_topic_prefix)}")
        if not counts:
            print("no dead-letter topics")
        return 0
    topic = settings.topic(args.topic)
    if args.command == "show":
        letters = await read_dead_letters(settings, topic)
        for letter in letters[-args.limit:]:
            _print_letter(letter, args.values)
        print(f"{len(letters)} dead letter(s) in {args.topic}")
        return 0
    if not args.at and not args.all_new:
        print("replay: give --at PARTITION:OFFSET (repeatable) or --all-new", file=sys.stderr)
        return 2
    replayed = await replay(settings, topic, positions=set(args.at or ()), all_new=args.all_new)
    print(json.dumps({"replayed": [d.position for d in replayed], "to": sorted({d.original_topic for d in replayed})}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="dead-letter topics and their sizes")
    show = commands.add_parser("show", help="the dead letters of a topic: position, origin, attempts, reason")
    show.add_argument("topic")
    show.add_argument("--limit", type=int, default=100, help="the last N (default 100)")
    show.add_argument("--values", action="store_true", help="also print keys and values (may hold personal data)")
    again = commands.add_parser("replay", help="write dead letters back to their original topic")
    again.add_argument("topic")
    again.add_argument("--at", action="append", metavar="PARTITION:OFFSET")
    again.add_argument("--all-new", action="store_true", help="all not replayed by an earlier --all-new")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
