"""E-mail notifications: written once, sent once, never lost (as far as SMTP allows).

A notification is a document in the service's `notifications` collection with a deterministic id (what it is
about: `task-arrived:<task id>`), written by the code that decides it is owed; writing it twice changes nothing.
The sender, a background task in every replica, sends what is due:
- it claims a notification by inserting `<id>` into `notification_claims` with a lease (a unique insert: one
  replica sends it; a claim whose replica died is taken over when the lease ends);
- a record in `notifications_sent` says a notification went out: it is checked before sending and written right
  after the server accepted the mail, then the pending document goes. A pass does this for its batch of due
  notifications: one insert claims them all, one read checks them all, one delete each removes the sent ones and
  the claims. The sent records are written while the next mails go out, with group commit (those of the mails
  the server accepted while one insert ran go in the next): a mail's own command is its send. Only a crash
  between a send and its record (for those in flight: the mails accepted during one insert) sends twice, with
  the same Message-ID (`<id@velkommen>`), which mail programs use to recognise a repeat;
- a pass sends over NOTIFICATION_SMTP_CONNECTIONS connections at once, each taking the next due mail: a mail is
  several round trips to the relay, so one connection caps the rate at a few round trips' worth;
- the server down or answering 4xx: the attempt is counted and retried with backoff (never dropped) until
  NOTIFICATION_MAX_ATTEMPTS; a 5xx for the recipient, or too many attempts: the notification moves to
  `notifications_failed` with the reason (metrics, and GET /notifications/failed for admins).
Erasure drops a case's pending notifications; the sent and failed records hold no address or text.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from functools import partial
from typing import Annotated, Any

import aiosmtplib
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.auth import Principal, Role, require
from shared.db import (
    TRANSIENT_DB_ERRORS,
    GroupCommit,
    find_by_ids,
    insert_new,
    insert_new_each,
    insert_new_many,
    insert_new_returning_existing,
)
from shared.metrics import ServiceMetrics
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("5a0d7f63-0c7e-4b8e-9d36-2b4a6c1f9e07")
PENDING_COUNT_SECONDS = 15.0  # how often the sender counts the pending notifications for its gauge
DUE_BATCH = 100  # the due notifications a pass takes; a pass that sent a whole batch is followed by the next at once


@dataclass(frozen=True)
class Mail:
    """What a person receives: plain text always, HTML when the mail has one."""

    to: str
    subject: str
    text: str
    html: str | None = None
    language: str = "da"


def notification_id(what: str) -> str:
    """The id of the notification about `what` (e.g. "task-arrived:<task id>"): the same cause, the same id."""
    return str(uuid.uuid5(_NAMESPACE, what))


def notification(what: str, kind: str, mail: Mail, *, case_id: str | None, now: datetime) -> dict[str, Any]:
    return {"_id": notification_id(what), "about": what, "kind": kind, "case_id": case_id, "to": mail.to,
            "subject": mail.subject, "text": mail.text, "html": mail.html, "language": mail.language,
            "attempts": 0, "next_attempt_at": now, "created_at": now}


# The message is built with the email package's classic API (compat32): the modern one (EmailMessage) parses
# every header it is given into objects and folds them again, 3.2 ms per mail against 0.9 (measured with a
# welcome mail with HTML), most of a sender's CPU. What the modern API checked is done here: no line breaks in a
# header (they would start a header of their own), non-ASCII headers as encoded words (RFC 2047), and long ASCII
# headers (an unsubscribe URL) left unfolded (max_line_length 0; the relay takes lines up to 998).
_WIRE = email.policy.compat32.clone(linesep="\r\n", max_line_length=0)
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})


def _header(value: str) -> str | Header:
    value = value.translate(_LINE_BREAKS)
    return value if value.isascii() else Header(value, "utf-8", maxlinelen=998)


def _address(value: str) -> str:
    return formataddr(parseaddr(value.translate(_LINE_BREAKS)), charset="utf-8")


def message(doc: dict[str, Any], settings: ServiceSettings) -> Message[Any, Any]:
    text = MIMEText(doc["text"], "plain", "utf-8")
    msg: Message[Any, Any] = text
    if doc.get("html"):
        msg = MIMEMultipart("alternative")
        msg.attach(text)
        msg.attach(MIMEText(doc["html"], "html", "utf-8"))
    msg["From"] = _address(settings.mail_from)
    msg["To"] = _address(doc["to"])
    msg["Subject"] = _header(doc["subject"])
    msg["Message-ID"] = f"<{doc['_id']}@velkommen>"
    msg["Date"] = format_datetime(doc["created_at"] if doc["created_at"].tzinfo else
                                  doc["created_at"].replace(tzinfo=UTC))
    msg["Content-Language"] = _header(doc.get("language") or "da")
    msg["Auto-Submitted"] = "auto-generated"
    if doc.get("unsubscribe"):  # RFC 8058: mail programs offer (and may POST) the unsubscribe link themselves
        msg["List-Unsubscribe"] = _header(f"<{doc['unsubscribe']}>")
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return msg


class NotificationStore:
    def __init__(self, db: AsyncDatabase):
        self.pending = db["notifications"]
        self.claims = db["notification_claims"]
        self.sent = db["notifications_sent"]
        self.failed = db["notifications_failed"]

    async def ensure_indexes(self) -> None:
        await self.pending.create_index([("next_attempt_at", 1)])
        await self.pending.create_index([("case_id", 1)])
        await self.failed.create_index([("refused_recipient", 1), ("kind", 1)])

    async def add(self, notifications: Iterable[dict[str, Any]]) -> int:
        """Store notifications not written (or sent) before; returns how many are new."""
        docs = list(notifications)
        if not docs:
            return 0
        sent = {d["_id"] for d in await find_by_ids(self.sent, [d["_id"] for d in docs], {"_id": 1})}
        return await insert_new_many(self.pending, [d for d in docs if d["_id"] not in sent])

    async def due(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Up to `limit` due notifications, in due order. Which due ones, when more are due, is the database's
        read order: on MongoDB the next_attempt_at index's (earliest due first), on FerretDB as stored (first
        written first); a pass takes the next batch either way.

        The find has no sort or limit: FerretDB (deploy/ferretdb/pushdown.patch) hands SQLite only such a filter,
        to be served by the next_attempt_at index; sorted or limited, it decoded every pending notification on
        every pass (a backlog of hundreds under load). The first batch is read and the cursor closed."""
        cursor = self.pending.find({"next_attempt_at": {"$lte": now}}, batch_size=limit)
        try:
            due = await cursor.to_list(length=limit)  # reads up to `limit`; sends no limit to the database
        finally:
            await cursor.close()
        return sorted(due, key=lambda doc: doc["next_attempt_at"])

    async def drop_case(self, case_id: str) -> int:
        """Erasure: the case's pending notifications go; sent and failed records hold no personal data."""
        return (await self.pending.delete_many({"case_id": case_id})).deleted_count

    async def refused_recipients(self, kinds: Iterable[str]) -> list[dict[str, Any]]:
        """Notifications whose recipient address the server refused for good (those of these kinds)."""
        query = {"refused_recipient": True, "kind": {"$in": sorted(kinds)}}
        return await self.failed.find(query, {"case_id": 1, "at": 1, "smtp_code": 1}).to_list(length=None)

    async def failures(self, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self.failed.find({}, {"_id": 1, "kind": 1, "reason": 1, "attempts": 1, "at": 1})
        return await cursor.sort("at", -1).limit(limit).to_list(length=limit)


class SmtpTransport:
    """Sends messages through the configured relay; raises aiosmtplib's errors. Inside `connection()` (one lane of
    a sender's pass) the mails share one connection: a connection of its own per mail (connect, greeting,
    STARTTLS, login, quit) cost the sender more than the mail did."""

    def __init__(self, settings: ServiceSettings):
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        self._mails_on_it = 0
        self._held = False
        self._local_hostname: str | None = None  # the client's own name, looked up (in a thread) once

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[None]:
        """The mails sent inside share a connection (opened at the first, again after a failure), closed after."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            await self._close()

    async def send(self, msg: Message) -> None:
        # Flattened here: aiosmtplib's own flattening folds long headers (an unsubscribe URL) into encoded words.
        raw = msg.as_bytes(policy=_WIRE)
        sender, recipients = parseaddr(str(msg["From"]))[1], [parseaddr(str(msg["To"]))[1]]
        try:
            try:
                await (await self._open()).sendmail(sender, recipients, raw)
            except aiosmtplib.SMTPServerDisconnected:
                if not self._mails_on_it:
                    raise
                # A connection that served mails before was closed by the server (idle, or its limit per
                # connection): once more on a new one.
                await self._close()
                await (await self._open()).sendmail(sender, recipients, raw)
            self._mails_on_it += 1
        except BaseException:
            await self._close()  # after any failure the next mail starts on a new connection
            raise
        if not self._held:
            await self._close()

    async def _open(self) -> aiosmtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            smtp = aiosmtplib.SMTP(
                hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_seconds,
                local_hostname=self._local_hostname,
                use_tls=s.smtp_security == "tls", start_tls=True if s.smtp_security == "starttls" else False,
                username=s.smtp_username or None, password=s.smtp_password.get_secret_value() or None)
            await smtp.connect()  # with STARTTLS and login, as configured
            self._local_hostname = smtp.local_hostname
            self._smtp, self._mails_on_it = smtp, 0
        return self._smtp

    async def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()


def _refused_recipient(exc: Exception) -> int | None:
    """The SMTP code when the server refused the recipient's address for good (not the whole message)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        return exc.recipients[0].code if all(r.code >= 500 for r in exc.recipients) else None
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused) and exc.code >= 500:
        return exc.code
    return None


def _permanent(exc: Exception) -> bool:
    """The server refused this message for good (5xx): for a recipient, or the whole message."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(r.code >= 500 for r in exc.recipients)
    code = getattr(exc, "code", None)
    return isinstance(exc, aiosmtplib.SMTPResponseException) and code is not None and 500 <= code < 600


class NotificationSender:
    def __init__(self, store: NotificationStore, settings: ServiceSettings, *, metrics: ServiceMetrics | None = None,
                 owner: str | None = None, lease_seconds: float = 120.0):
        self.store = store
        self.settings = settings
        # A pass sends over up to NOTIFICATION_SMTP_CONNECTIONS connections at once, each taking the next due mail.
        self.transports = [SmtpTransport(settings) for _ in range(settings.notification_smtp_connections)]
        self.metrics = metrics
        self.owner = owner or f"sender-{uuid.uuid4()}"
        self.lease = timedelta(seconds=lease_seconds)
        self._stopping = asyncio.Event()
        self._counted_at = -PENDING_COUNT_SECONDS
        # Recorded by earlier attempts (or a sender that took over) is recorded: duplicates are no error.
        self._sent_records = GroupCommit(partial(insert_new_each, store.sent))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            sent = 0
            try:
                sent = await self.send_due()
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("notification sender: %r; will retry", exc)
            except Exception:  # logged; the sender must keep running, the notifications stay pending
                log.exception("notification sender failed; will retry")
            if sent >= DUE_BATCH:
                # A whole batch went out: more are likely due (a backlog under load), and waiting for the poll
                # would cap the sender at a batch per poll (50 mails/s at the default 2 s).
                continue
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.notification_poll_seconds)
            except TimeoutError:
                pass

    async def send_due(self, now: datetime | None = None) -> int:
        """Send every due notification this sender can claim; returns how many went out. A pass claims its batch,
        checks it against the sent records and cleans up after it with one command each; a mail's sent record
        is written as soon as the server accepted it."""
        due = await self.store.due(now or datetime.now(UTC), limit=DUE_BATCH)
        sent = 0
        if due:
            claimed = await self._claim([d["_id"] for d in due])
            try:
                sent = await self._send_claimed([d for d in due if d["_id"] in claimed])
            finally:
                if claimed:
                    await self.store.claims.delete_many({"_id": {"$in": sorted(claimed)}, "owner": self.owner})
        await self._report_pending()
        return sent

    async def _claim(self, notification_ids: list[str]) -> set[str]:
        """The ids this sender may send: those it claimed now (one unordered insert), and those whose claiming
        sender died (its lease ended)."""
        now = datetime.now(UTC)
        claims = [self._claim_of(i, now) for i in notification_ids]
        held = await insert_new_returning_existing(self.store.claims, claims)
        claimed = set(notification_ids) - held
        for claim in await find_by_ids(self.store.claims, sorted(held)):
            if claim["until"] > now:
                continue
            # The claiming sender died: take over (two taking over at once may both send; the Message-ID is one).
            await self.store.claims.delete_one({"_id": claim["_id"], "until": claim["until"]})
            if await insert_new(self.store.claims, self._claim_of(claim["_id"], now)):
                claimed.add(claim["_id"])
        return claimed

    def _claim_of(self, notification_id: str, now: datetime) -> dict[str, Any]:
        return {"_id": notification_id, "owner": self.owner, "until": now + self.lease}

    async def _send_claimed(self, docs: list[dict[str, Any]]) -> int:
        """Send these (claimed) notifications, started in order, over the sender's connections at once; those
        sent before (a pass that stopped between the sent record and the clean-up) only leave the pending
        collection. A sent record not written, or an error in a lane, stops the pass (no lane takes another mail;
        the error is raised once the recorded ones are cleaned up): the mail stays pending and goes again."""
        sent_before = {d["_id"] for d in await find_by_ids(self.store.sent, [d["_id"] for d in docs], {"_id": 1})}
        done = [doc["_id"] for doc in docs if doc["_id"] in sent_before]
        to_send = iter([doc for doc in docs if doc["_id"] not in sent_before])
        recording: dict[str, asyncio.Future[bool]] = {}
        lane_failed = asyncio.Event()

        async def lane(transport: SmtpTransport) -> None:
            try:
                async with transport.connection():
                    for doc in to_send:  # shared by the lanes: each takes the next mail due
                        if self._stopping.is_set() or lane_failed.is_set() \
                                or any(r.done() and r.exception() for r in recording.values()):
                            return
                        if (recorded := await self._send_one(doc, transport)) is not None:
                            recording[doc["_id"]] = recorded
            except BaseException:
                lane_failed.set()  # the other lanes finish the mail in hand and take no other
                raise

        lanes = self.transports[:max(1, len(docs) - len(done))]  # no more connections than mails
        outcomes: list[BaseException | None] = []
        try:
            outcomes = await asyncio.gather(*(lane(t) for t in lanes), return_exceptions=True)
        finally:
            results = await asyncio.gather(*recording.values(), return_exceptions=True)
            # Recorded (now, or by an earlier attempt: either way the mail went out): it leaves the pending ones.
            done += [notification_id for notification_id, result in zip(recording, results, strict=True)
                     if not isinstance(result, BaseException)]
            if done:
                await self.store.pending.delete_many({"_id": {"$in": done}})
        if failed := next((r for r in [*outcomes, *results] if isinstance(r, BaseException)), None):
            raise failed
        return len(done)

    async def _send_one(self, doc: dict[str, Any], transport: SmtpTransport) -> asyncio.Future[bool] | None:
        """Send one mail; returns the future of its sent record, or None when it failed (counted, and retried or
        given up)."""
        try:
            await transport.send(message(doc, self.settings))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self._failed_attempt(doc, exc)
            return None
        self._count("sent", doc)
        return self._sent_records.add({"_id": doc["_id"], "kind": doc["kind"], "case_id": doc["case_id"],
                                       "at": datetime.now(UTC)})

    async def _report_pending(self) -> None:
        # Counting reads every pending notification on FerretDB: at most every PENDING_COUNT_SECONDS, not per pass.
        if self.metrics is None or time.monotonic() - self._counted_at < PENDING_COUNT_SECONDS:
            return
        self._counted_at = time.monotonic()
        self.metrics.notifications_pending.set(await self.store.pending.count_documents({}))

    async def _failed_attempt(self, doc: dict[str, Any], exc: Exception) -> None:
        attempts = doc.get("attempts", 0) + 1
        reason = f"{type(exc).__name__}: {exc}"[:500]
        if _permanent(exc) or attempts >= self.settings.notification_max_attempts:
            log.error("notification %s (%s) failed after %d attempt(s): %s", doc["_id"], doc["kind"], attempts, reason)
            refused = _refused_recipient(exc)
            # Recorded already by an earlier attempt (or a sender that took over): insert_new leaves it.
            await insert_new(self.store.failed, {"_id": doc["_id"], "kind": doc["kind"], "case_id": doc["case_id"],
                                                 "reason": reason, "attempts": attempts, "at": datetime.now(UTC),
                                                 "refused_recipient": refused is not None, "smtp_code": refused})
            await self.store.pending.delete_one({"_id": doc["_id"]})
            self._count("failed", doc)
            return
        delay = min(2 ** attempts, 900)
        log.warning("notification %s (%s): attempt %d failed (%s); retrying in %ds", doc["_id"], doc["kind"],
                    attempts, reason, delay)
        # Only the claim holder writes a pending notification (and erasure deletes it): the update cannot undo
        # another writer's change.
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        await self.store.pending.update_one({"_id": doc["_id"]}, {"$set": {
            "attempts": attempts, "last_error": reason, "next_attempt_at": retry_at}})
        self._count("retried", doc)

    def _count(self, outcome: str, doc: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.notifications.labels(doc["kind"], outcome).inc()


class FailedNotification(BaseModel):
    notification_id: str
    kind: str
    reason: str
    attempts: int
    at: datetime


router = APIRouter(tags=["notifications"])


@router.get("/notifications/failed", response_model=list[FailedNotification])
async def failed_notifications(request: Request, admin: Annotated[Principal, Depends(require(Role.ADMIN))],
                               ) -> list[FailedNotification]:
    """Notifications that could not be sent (refused by the mail server, or too many attempts), newest first.
    No recipients or texts: the kind and the server's reason."""
    store: NotificationStore = request.app.state.notifications
    return [FailedNotification(notification_id=d["_id"], kind=d["kind"], reason=d["reason"], attempts=d["attempts"],
                               at=d["at"]) for d in await store.failures()]
