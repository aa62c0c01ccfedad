"""Mail to the family, in its own language, only while it consents (texts from the letter catalogs).

The welcome mail carries the welcome letter itself as its HTML part (right-to-left for Arabic, as the letter
is), a short plain-text part, and an unsubscribe link that works without signing in: `/unsubscribe/<case>/<mac>`,
the MAC an HMAC of the case id with MAIL_LINK_SECRET. Withdrawing consent drops the family's pending mails and
stops every later one. No CPR number and no one outside the family appears in it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from services.welcome_pack.render import LetterRenderer
from services.welcome_pack.settings import WelcomePackSettings
from shared.notify import Mail, notification


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
    html = renderer.with_sign_in(letter["html"], language, sign_in_url).replace("</body>", f"{footer}</body>", 1)
    return Mail(to=email, subject=_("Welcome to %(town)s") % {"town": town}, text=text, html=html,
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
