"""shared.notify's sender, on the session's database and Mailpit: a pass handles its batch with one command per
step (claims, the sent-check, the clean-up), writes the sent records while the next mails go out (group commit)
and stops when one cannot be written, skips what another sender holds, takes over what a dead sender held, does
not send again what was sent before the clean-up, and sends a pass's mails over one connection."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import AutoReconnect

from shared.notify import DUE_BATCH, Mail, NotificationSender, NotificationStore, SmtpTransport, message, notification
from shared.settings import ServiceSettings
from tests.conftest import Infrastructure
from tests.kafka_helpers import eventually
from tests.mailpit import mails_with


class Commands(monitoring.CommandListener):
    """Counts the commands a client sends, by "command collection"."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        self.counts[f"{event.command_name} {target if isinstance(target, str) else ''}".strip()] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(infrastructure: Infrastructure) -> Any:
    commands = Commands()
    client: AsyncMongoClient = AsyncMongoClient(infrastructure.mongodb_uri, tz_aware=True,
                                                event_listeners=[commands])
    yield client[f"test_{infrastructure.run_id}_notify_{uuid.uuid4().hex[:6]}"], commands
    await client.close()


def _mails(n: int, now: datetime) -> list[dict[str, Any]]:
    return [notification(f"test:{uuid.uuid4()}", "test", Mail(to=f"unit{i}@example.org", subject="Ny opgave",
                                                              text="Se Velkommen."), case_id=f"c{i}", now=now)
            for i in range(n)]


def _sender(infrastructure: Infrastructure, store: NotificationStore) -> NotificationSender:
    return NotificationSender(store, infrastructure.settings(ServiceSettings))


async def test_a_pass_claims_checks_and_cleans_up_its_batch_with_one_command_each(infrastructure, counted):
    db, commands = counted
    store = NotificationStore(db)
    mails = _mails(8, datetime.now(UTC))
    await store.add(mails)
    commands.counts.clear()
    assert await _sender(infrastructure, store).send_due() == 8
    assert await store.pending.count_documents({}) == 0
    assert await store.sent.count_documents({}) == 8
    assert await store.claims.count_documents({}) == 0
    counts = commands.counts
    assert counts["insert notification_claims"] == 1
    assert counts["find notifications_sent"] == 1
    assert counts["delete notifications"] == 1
    assert counts["delete notification_claims"] == 1
    assert await store.sent.count_documents({}) == 8  # (how many inserts wrote them: the test below)
    for mail in mails:
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen")) == 1


@dataclass
class _Watched:
    """Mails pending, and a sender whose sends are counted (all_sent: the last went out)."""

    store: NotificationStore
    mails: list[dict[str, Any]]
    sender: NotificationSender
    sent: list[str] = field(default_factory=list)
    all_sent: asyncio.Event = field(default_factory=asyncio.Event)


async def _mails_watched(infrastructure: Infrastructure, db: Any, monkeypatch: pytest.MonkeyPatch,
                         count: int = 8) -> _Watched:
    store = NotificationStore(db)
    mails = _mails(count, datetime.now(UTC))
    await store.add(mails)
    watched = _Watched(store, mails, _sender(infrastructure, store))
    send = SmtpTransport.send

    async def counting_send(transport: SmtpTransport, msg: Any) -> None:
        await send(transport, msg)
        watched.sent.append(msg["Message-ID"])
        if len(watched.sent) == len(mails):
            watched.all_sent.set()

    monkeypatch.setattr(SmtpTransport, "send", counting_send)
    return watched


async def test_the_sent_records_are_written_while_the_next_mails_go_out(infrastructure, counted, monkeypatch):
    db, commands = counted
    w = await _mails_watched(infrastructure, db, monkeypatch)
    store, mails, all_sent = w.store, w.mails, w.all_sent
    insert_many = store.sent.insert_many

    async def held_until_all_sent(*args: Any, **kwargs: Any) -> Any:
        # The first record's insert is still running when the other seven mails go out: they wait for the next.
        await asyncio.wait_for(all_sent.wait(), 30)
        return await insert_many(*args, **kwargs)

    monkeypatch.setattr(store.sent, "insert_many", held_until_all_sent)
    commands.counts.clear()
    assert await w.sender.send_due() == 8
    # The first record(s) (one, or the few the connections' first mails gave at once), then all the others.
    assert commands.counts["insert notifications_sent"] == 2
    assert {d["_id"] async for d in store.sent.find({}, {"_id": 1})} == {m["_id"] for m in mails}
    assert await store.pending.count_documents({}) == 0
    for mail in mails:
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen")) == 1


async def test_a_sent_record_not_written_stops_the_pass_and_its_mail_goes_again(infrastructure, counted,
                                                                                monkeypatch):
    db, _ = counted
    # Several times the connections' number: each connection may take one more mail before the refusal shows.
    w = await _mails_watched(infrastructure, db, monkeypatch, count=40)
    store, mails, sender, sent = w.store, w.mails, w.sender, w.sent
    insert_many = store.sent.insert_many
    refused: list[list[str]] = []

    async def first_refused(documents: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if not refused:
            refused.append([d["_id"] for d in documents])
            raise AutoReconnect("the database went away")
        return await insert_many(documents, *args, **kwargs)

    monkeypatch.setattr(store.sent, "insert_many", first_refused)
    with pytest.raises(AutoReconnect):
        await sender.send_due()
    [lost] = refused  # the first insert's records: one mail's, or a few when the connections' first mails came at once
    assert len(sent) < len(mails)  # the pass stopped sending
    pending = {d["_id"] async for d in store.pending.find({}, {"_id": 1})}
    recorded = {d["_id"] async for d in store.sent.find({}, {"_id": 1})}
    assert set(lost) <= pending and not set(lost) & recorded
    assert pending | recorded == {m["_id"] for m in mails} and not pending & recorded
    assert await store.claims.count_documents({}) == 0
    # The next pass sends what is pending: a mail whose record was lost goes twice, with the same Message-ID.
    assert await sender.send_due() == len(pending)
    for mail_id in lost:
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail_id}@velkommen")) == 2
    assert {d["_id"] async for d in store.sent.find({}, {"_id": 1})} == {m["_id"] for m in mails}


async def test_a_live_claim_is_left_alone_and_a_dead_senders_claim_is_taken_over(infrastructure, counted):
    db, _ = counted
    store = NotificationStore(db)
    now = datetime.now(UTC)
    held, abandoned, free = _mails(3, now)
    await store.add([held, abandoned, free])
    await store.claims.insert_many([
        {"_id": held["_id"], "owner": "another sender", "until": now + timedelta(minutes=2)},
        {"_id": abandoned["_id"], "owner": "a sender that died", "until": now - timedelta(seconds=1)}])
    sender = _sender(infrastructure, store)
    assert await sender.send_due() == 2
    assert {d["_id"] async for d in store.pending.find({}, {"_id": 1})} == {held["_id"]}
    assert await mails_with(infrastructure.mailpit_url, f"{held['_id']}@velkommen") == []
    for mail in (abandoned, free):
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen")) == 1
    # The other sender's claim is still its own; this sender's are gone.
    assert [c["owner"] async for c in store.claims.find({})] == ["another sender"]


async def test_a_mail_recorded_as_sent_before_the_clean_up_is_not_sent_again(infrastructure, counted):
    db, _ = counted
    store = NotificationStore(db)
    [mail] = _mails(1, datetime.now(UTC))
    await store.add([mail])
    # A sender that stopped between the sent record and deleting the pending notification.
    await store.sent.insert_one({"_id": mail["_id"], "kind": "test", "case_id": mail["case_id"],
                                 "at": datetime.now(UTC)})
    assert await _sender(infrastructure, store).send_due() == 1
    assert await store.pending.count_documents({}) == 0
    assert await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen") == []


async def test_a_pass_sends_its_mails_over_its_few_connections_not_one_each(infrastructure, counted, monkeypatch):
    db, _ = counted
    store = NotificationStore(db)
    mails = _mails(6, datetime.now(UTC))
    await store.add(mails)
    connects = Counter[str]()
    connect = aiosmtplib.SMTP.connect

    async def counting_connect(self: aiosmtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        connects["connect"] += 1
        return await connect(self, *args, **kwargs)

    monkeypatch.setattr(aiosmtplib.SMTP, "connect", counting_connect)
    settings = infrastructure.settings(ServiceSettings, notification_smtp_connections=2)
    assert await NotificationSender(store, settings).send_due() == 6
    assert connects["connect"] == 2
    for mail in mails:
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen")) == 1


async def test_a_pass_sends_over_its_connections_at_once(infrastructure, counted, monkeypatch):
    """One mail is several round trips to the relay: the connections work at the same time. Each send here
    waits (at most 10 s) until three are under way at once; one after the other, the first would wait in vain."""
    db, _ = counted
    store = NotificationStore(db)
    mails = _mails(6, datetime.now(UTC))
    await store.add(mails)
    under_way, most = 0, 0
    three_at_once = asyncio.Event()
    send = SmtpTransport.send

    async def send_with_the_others(transport: SmtpTransport, msg: Any) -> None:
        nonlocal under_way, most
        under_way += 1
        most = max(most, under_way)
        if under_way == 3:
            three_at_once.set()
        try:
            await asyncio.wait_for(three_at_once.wait(), 10)
            await send(transport, msg)
        finally:
            under_way -= 1

    monkeypatch.setattr(SmtpTransport, "send", send_with_the_others)
    settings = infrastructure.settings(ServiceSettings, notification_smtp_connections=3)
    assert await NotificationSender(store, settings).send_due() == 6
    assert most == 3  # never more than its connections
    for mail in mails:
        assert len(await mails_with(infrastructure.mailpit_url, f"{mail['_id']}@velkommen")) == 1


async def test_a_connection_the_server_closed_is_replaced_for_the_next_mail(infrastructure):
    transport = SmtpTransport(infrastructure.settings(ServiceSettings))
    first, second = (message(doc, transport.settings) for doc in _mails(2, datetime.now(UTC)))
    async with transport.connection():
        await transport.send(first)
        assert transport._smtp is not None
        transport._smtp.close()  # as a server does with an idle connection, or at its limit of mails per connection
        await transport.send(second)
    for sent in (first, second):
        assert len(await mails_with(infrastructure.mailpit_url, str(sent["Message-ID"]).strip("<>"))) == 1


async def test_a_pass_takes_at_most_its_batch_of_due_mails_in_due_order_and_none_not_due_yet(counted: Any) -> None:
    db, _ = counted
    store = NotificationStore(db)
    await store.ensure_indexes()
    now = datetime.now(UTC).replace(microsecond=0)
    mails = _mails(8, now)
    # Stored in another order than they fall due; two are not due yet (a retry's later attempt).
    offsets = [5, -30, 60, -10, -50, 120, -20, -40]
    for mail, minutes in zip(mails, offsets, strict=True):
        mail["next_attempt_at"] = now + timedelta(minutes=minutes)
    await store.add(mails)
    due_at = {now + timedelta(minutes=m) for m in offsets if m <= 0}
    batch = [d["next_attempt_at"] for d in await store.due(now, limit=4)]
    assert len(batch) == 4 and set(batch) <= due_at and batch == sorted(batch)
    assert sorted(d["next_attempt_at"] for d in await store.due(now, limit=100)) == sorted(due_at)


async def test_a_sender_with_a_backlog_goes_on_at_once_after_a_whole_batch(infrastructure, counted):
    """Under load more mails fall due than one pass takes: a pass that sent a whole batch is followed by the
    next at once, not after the poll interval (here 60 s, so a sender that waits sends one batch in the time)."""
    db, _ = counted
    store = NotificationStore(db)
    await store.ensure_indexes()
    await store.add(_mails(DUE_BATCH * 2 + 50, datetime.now(UTC)))
    sender = NotificationSender(store, infrastructure.settings(ServiceSettings, notification_poll_seconds=60))
    running = asyncio.create_task(sender.run())
    try:
        assert await eventually(lambda: _none_pending(store), timeout=30)
    finally:
        sender.stop()
        await asyncio.wait_for(running, 30)
    assert await store.sent.count_documents({}) == DUE_BATCH * 2 + 50


async def _none_pending(store: NotificationStore) -> bool:
    return await store.pending.count_documents({}) == 0
