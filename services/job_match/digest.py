"""The advisers' digest: once per DIGEST_HOURS, one mail to the Jobcenter team's mailbox listing the spouses
who got new leads in the period that just ended, with how many and a link to each on the lead board. No names,
no lead contents (staff sign in). Its id is the period's: replicas and restarts write it once, and a period
without new leads sends nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.support import Translations

from services.job_match.settings import JobMatchSettings
from services.job_match.store import JobStore
from shared.i18n import translations
from shared.notify import Mail, NotificationStore, notification

LOCALES = Path(__file__).parent / "locales"
STAFF_LANGUAGE = "da"


@lru_cache(maxsize=4)
def _catalog(language: str) -> Translations:
    return translations(LOCALES, language)


def last_period(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """The last whole period before `now` (periods are counted from the epoch, so every replica agrees)."""
    length = timedelta(hours=hours)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    end = epoch + ((now - epoch) // length) * length
    return end - length, end


def digest_mail(new_leads_by_case: Counter[str], start: datetime, end: datetime, settings: JobMatchSettings,
                language: str = STAFF_LANGUAGE) -> Mail:
    _ = _catalog(language).gettext
    spouses, leads = len(new_leads_by_case), sum(new_leads_by_case.values())
    period = {"start": format_datetime(start, "d. MMM HH:mm", tzinfo=UTC, locale=language),
              "end": format_datetime(end, "d. MMM HH:mm", tzinfo=UTC, locale=language)}
    lines = [_("New job leads %(start)s - %(end)s (UTC): %(leads)s for %(spouses)s spouses.") % {
        **period, "leads": leads, "spouses": spouses}, ""]
    for case_id, count in sorted(new_leads_by_case.items(), key=lambda item: (-item[1], item[0])):
        link = f"{settings.job_match_url}/#case-{case_id}"
        lines.append(_("%(count)s new: %(link)s") % {"count": count, "link": link})
    lines += ["", _("This message holds no personal data. Sign in to see the spouses and their leads.")]
    return Mail(to=settings.jobcenter_mailbox, subject=_("Velkommen: new job leads (%(leads)s)") % {"leads": leads},
                text="\n".join(lines), language=language)


async def send_digest(store: JobStore, notifications: NotificationStore, settings: JobMatchSettings,
                      now: datetime | None = None) -> int:
    """Write the last period's digest unless written before or empty; returns 1 if it wrote one."""
    start, end = last_period(now or datetime.now(UTC), settings.digest_hours)
    created = await store.leads_created_between(start, end)
    if not created:
        return 0
    mail = digest_mail(Counter(lead["case_id"] for lead in created), start, end, settings)
    # Due at once, whatever clock the period was read from.
    doc: dict[str, Any] = notification(f"leads-digest:{start.isoformat()}", "leads_digest", mail, case_id=None,
                                       now=datetime.now(UTC))
    return await notifications.add([doc])
