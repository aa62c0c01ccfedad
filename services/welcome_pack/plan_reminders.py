"""The weekly reminder of plan steps due soon, to families who gave an address and agreed to hear from us.

A periodic job (every PLAN_REMINDER_CHECK_SECONDS, in every replica): for each consenting family, the steps still
to do that fall due within PLAN_REMINDER_DAYS_AHEAD days, in the family's language. One mail per family and ISO
week at most: the notification id is `family-plan:<case>:<year>-W<week>`, so replicas running it at once, or a
run repeated after a restart, write it once (shared/notify.py). Nothing due: no mail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from babel.dates import format_date
from markupsafe import Markup

from services.welcome_pack.domain import PlanRules, StepStatus
from services.welcome_pack.family import PlanView, plan_view
from services.welcome_pack.family_mail import unsubscribe_url
from services.welcome_pack.plan_texts import STEP_TITLES
from services.welcome_pack.render import LetterRenderer, ltr
from services.welcome_pack.settings import WelcomePackSettings
from services.welcome_pack.store import LetterStore
from shared.notify import Mail, NotificationStore, notification


def steps_due_soon(view: PlanView, today: date, days_ahead: int) -> list[Any]:
    until = today + timedelta(days=days_ahead)
    return [s for s in view.steps if s.status is StepStatus.TO_DO and today <= s.step.due <= until]


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def plan_reminder_mail(view: PlanView, due: list[Any], contact: dict[str, Any], renderer: LetterRenderer,
                       settings: WelcomePackSettings) -> Mail:
    language = contact["language"]
    _ = renderer.gettext(language)
    town = renderer.municipality_name
    link = unsubscribe_url(view.case_id, settings)
    pages = f"{settings.welcome_pack_url}/family"
    lines = [f"- {_(STEP_TITLES[s.step.kind]) % {'name': '', **dict(s.step.params)}}: "
             f"{format_date(s.step.due, format='long', locale=language)}" for s in due]
    text = "\n\n".join([
        _("These steps of your plan are due soon:"), "\n".join(lines),
        _("See your plan and tick what you have done: %(link)s") % {"link": pages},
        _("You receive this e-mail because you agreed to hear from %(town)s. To stop these e-mails: %(link)s")
        % {"town": town, "link": link},
    ])
    subject = _("Your plan: %(count)s steps due soon") % {"count": len(due)}
    items = Markup("").join(Markup("<li>%s</li>") % line.removeprefix("- ") for line in lines)
    body = (Markup("<p>%s</p><ul>") % _("These steps of your plan are due soon:") + items
            + Markup('</ul><p><a href="%s">%s</a></p>') % (pages, ltr(pages)))
    return Mail(to=contact["email"], subject=subject, text=text, html=renderer.mail_html(language, subject, body, link),
                language=language)


async def remind_families(store: LetterStore, notifications: NotificationStore, renderer: LetterRenderer,
                          rules: PlanRules, settings: WelcomePackSettings, today: date | None = None) -> int:
    """One run; returns how many reminders it wrote (0 when this week's were written before)."""
    now = datetime.now(UTC)
    today = today or now.date()
    owed = []
    for contact in await store.consenting_contacts():
        view = await plan_view(store, rules, contact["_id"], today)
        if view is None:
            continue
        due = steps_due_soon(view, today, settings.plan_reminder_days_ahead)
        if due:
            mail = plan_reminder_mail(view, due, contact, renderer, settings)
            owed.append(notification(f"family-plan:{view.case_id}:{week_of(today)}", "family_plan_reminder", mail,
                                     case_id=view.case_id, now=now))
    return await notifications.add(owed)
