"""Mail to the family, in its own language, only while it consents (texts from the letter catalogs).

The welcome mail carries the welcome letter itself as its HTML part (right-to-left for Arabic, as the letter
is), a short plain-text part, and an unsubscribe link that works without signing in: `/unsubscribe/<case>/<mac>`,
the MAC an HMAC of the case id with MAIL_LINK_SECRET. Withdrawing consent drops the family's pending mails and
stops every later one. No CPR number and no one outside the family appears in it.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from babel.dates import format_date
from markupsafe import Markup, escape

from services.welcome_pack.api import letter_html_in
from services.welcome_pack.render import LetterRenderer, isolate, ltr
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore
from shared.erasure import ErasureLog
from shared.events import FAMILY_MAIL_REFUSED, FamilyMailRefused, SchoolIntakeStatusChanged
from shared.notify import Mail, NotificationStore, notification
from shared.outbox import outbox_entry, outbox_fields


def unsubscribe_mac(case_id: str, settings: WelcomePackSettings) -> str:
    return hmac.new(settings.link_secret(), f"unsubscribe:{case_id}".encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_url(case_id: str, settings: WelcomePackSettings) -> str:
    return f"{settings.welcome_pack_url}/unsubscribe/{case_id}/{unsubscribe_mac(case_id, settings)}"


def valid_unsubscribe(case_id: str, mac: str, settings: WelcomePackSettings) -> bool:
    return hmac.compare_digest(mac, unsubscribe_mac(case_id, settings))


def welcome_mail(letter: dict[str, Any], email: str, renderer: LetterRenderer, settings: WelcomePackSettings,
                 sign_in_url: str | None = None) -> Mail:
    language = letter["language"]
    _ = renderer.gettext(language)
    link = unsubscribe_url(letter["case_id"], settings)
    town = renderer.municipality_name
    own_pages = [_("Your own pages (your plan, your children's places): %(link)s") % {"link": sign_in_url}] \
        if sign_in_url else []
    text = "\n\n".join([
        _("Welcome to %(town)s") % {"town": town},
        _("Your welcome letter is in this e-mail: it tells you the first things to do and where to get help."),
        *own_pages,
        _("You receive this e-mail because you agreed to hear from %(town)s. To stop these e-mails: %(link)s")
        % {"town": town, "link": link},
    ])
    footer = renderer.mail_footer(language, town, link)
    html = letter_html_in(renderer, letter, language, sign_in_url).replace("</body>", f"{footer}</body>", 1)
    return Mail(to=email, subject=_("Welcome to %(town)s") % {"town": town}, text=text, html=html,
                language=language)


def offer_mail(language: str, email: str, child_name: str, change: SchoolIntakeStatusChanged,
               renderer: LetterRenderer, settings: WelcomePackSettings, sign_in_url: str | None) -> Mail:
    """A reception-class place offered to the family's child: where, and by when to answer on its pages."""
    _ = renderer.gettext(language)
    deadline = format_date(change.offer_deadline, format="long", locale=language) if change.offer_deadline else ""
    pages = sign_in_url or f"{settings.welcome_pack_url}/family"
    link = unsubscribe_url(str(change.case_id), settings)
    town = renderer.municipality_name
    subject = _("A school place is offered to %(name)s") % {"name": child_name}
    lines = [
        _("A place in a reception class is offered to %(name)s at %(school)s.") % {"name": child_name,
                                                                                  "school": change.unit_name},
        _("Accept or decline it on your pages by %(date)s: %(link)s") % {"date": deadline, "link": pages},
        _("Without an answer by then, the place goes to the next child in line."),
        _("You receive this e-mail because you agreed to hear from %(town)s. To stop these e-mails: %(link)s")
        % {"town": town, "link": link},
    ]
    text = "\n\n".join(lines)
    # The HTML part: the same sentences, the school's name isolated and the link kept left-to-right.
    html_lines = [
        Markup(escape(_("A place in a reception class is offered to %(name)s at %(school)s."))) % {
            "name": isolate(child_name), "school": isolate(change.unit_name)},
        Markup(escape(_("Accept or decline it on your pages by %(date)s: %(link)s"))) % {
            "date": deadline, "link": Markup('<a href="%s">%s</a>') % (pages, ltr(pages))},
        escape(lines[2]),
    ]
    body = Markup("").join(Markup("<p>%s</p>") % line for line in html_lines)
    return Mail(to=email, subject=subject, text=text, html=renderer.mail_html(language, subject, body, link),
                language=language)


def welcome_notification(letter: dict[str, Any], email: str, renderer: LetterRenderer,
                         settings: WelcomePackSettings, now: datetime,
                         sign_in_url: str | None = None) -> dict[str, Any]:
    """The welcome mail, with the family's sign-in link (kept in the pending notification until it is sent,
    then only its id remains)."""
    doc = notification(f"family-welcome:{letter['case_id']}", "family_welcome",
                       welcome_mail(letter, email, renderer, settings, sign_in_url), case_id=letter["case_id"],
                       now=now)
    doc["unsubscribe"] = unsubscribe_url(letter["case_id"], settings)
    return doc


FAMILY_MAIL_KINDS = ("family_welcome", "family_offer", "family_plan_reminder")
_REFUSAL_EVENTS = uuid.UUID("6f1d2b7e-3a9c-4e55-9d0b-8c7a1e2f3b40")


async def report_refused_addresses(store: LetterStore, notifications: NotificationStore, erasures: ErasureLog,
                                   settings: WelcomePackSettings) -> int:
    """A family address the mail server refused for good: recorded once per case (no more family mail is
    written to it) and told to registration (FamilyMailRefused), which shows it beside the address. Periodic and
    idempotent: the refusal document is keyed by the case, its event id follows from it."""
    refusals = [r for r in await notifications.refused_recipients(FAMILY_MAIL_KINDS) if r.get("case_id")]
    erased = await erasures.erased_among([r["case_id"] for r in refusals])
    docs: dict[str, dict[str, Any]] = {}
    for refusal in refusals:
        case_id = refusal["case_id"]
        if case_id in erased or case_id in docs:
            continue
        event = FAMILY_MAIL_REFUSED.envelope(
            FamilyMailRefused(case_id=uuid.UUID(case_id), refused_at=refusal["at"], smtp_code=refusal.get("smtp_code")),
            producer=settings.service_name, correlation_id=uuid.UUID(case_id),
            event_id=uuid.uuid5(_REFUSAL_EVENTS, case_id))
        docs[case_id] = {"_id": case_id, "case_id": case_id, "at": refusal["at"], "smtp_code": refusal.get("smtp_code"),
                         **outbox_fields([outbox_entry(settings.topic(FAMILY_MAIL_REFUSED.topic), case_id, event)])}
    return await store.add_refusals(list(docs.values()))
