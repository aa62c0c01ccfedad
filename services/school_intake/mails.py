"""The mails school_intake sends to its units (texts from locales/<lang>/LC_MESSAGES/messages.po; staff read
Danish). They say what happened, how urgent it is and where to look; never a name, a CPR number or an address:
staff sign in to see the child."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.support import Translations

from services.school_intake.domain import IntakeKind, MunicipalityConfig, Reminder, TaskStatus
from services.school_intake.texts import catalog
from shared.notify import Mail, notification

LOCALES = Path(__file__).parent / "locales"
STAFF_LANGUAGE = "da"


def _catalog(language: str) -> Translations:
    return catalog(language)


def _kind(kind: str, _: Any) -> str:
    names = {
        IntakeKind.RECEPTION_CLASS.value: _("reception class"),
        IntakeKind.DISTRICT_SCHOOL.value: _("district school"),
        IntakeKind.DAYCARE.value: _("daycare"),
        IntakeKind.YOUTH_GUIDANCE.value: _("youth guidance"),
    }
    return str(names.get(kind, kind))


def task_arrived(task: dict[str, Any], config: MunicipalityConfig, queue_url: str,
                 language: str = STAFF_LANGUAGE) -> Mail:
    """A new intake task at a unit: which kind, for which grade, by when; a link to the unit's queue."""
    catalog = _catalog(language)
    _ = catalog.gettext
    unit = config.unit(task["unit_id"])
    kind = _kind(task["kind"], _)
    due = format_date(date.fromisoformat(str(task["due_date"])[:10]), format="long", locale=language)
    waitlisted = task["status"] == TaskStatus.WAITLISTED.value
    subject = (_("Velkommen: a child is waitlisted for a %(kind)s place") if waitlisted
               else _("Velkommen: new intake task (%(kind)s)")) % {"kind": kind}
    lines = [_("A new intake task has arrived for %(unit)s: %(kind)s.") % {"unit": unit.name, "kind": kind}]
    if task.get("grade") is not None:
        lines.append(_("Grade: %(grade)s.") % {"grade": task["grade"]})
    if waitlisted:
        lines.append(_("No place is free yet: the child waits for the next place that frees up."))
    lines += [_("Act by: %(due)s.") % {"due": due}, "",
              _("See the task in Velkommen: %(link)s") % {"link": f"{queue_url}/#task-{task['_id']}"}, "",
              _("This message holds no personal data. Sign in to see the child's details.")]
    assert unit.mailbox is not None  # MunicipalityConfig refuses units without one
    return Mail(to=unit.mailbox, subject=subject, text="\n".join(lines), language=language)


def task_reminder(task: dict[str, Any], reminder: Reminder, config: MunicipalityConfig, queue_url: str,
                  language: str = STAFF_LANGUAGE) -> Mail:
    """Overdue: to the task's unit. Escalated: to the school administration, naming the unit."""
    _ = _catalog(language).gettext
    unit = config.unit(task["unit_id"])
    kind = _kind(task["kind"], _)
    due = format_date(date.fromisoformat(str(task["due_date"])[:10]), format="long", locale=language)
    link = _("See the task in Velkommen: %(link)s") % {"link": f"{queue_url}/#task-{task['_id']}"}
    if reminder is Reminder.OVERDUE:
        to = unit.mailbox
        subject = _("Velkommen: an intake task is overdue (%(kind)s)") % {"kind": kind}
        first = _("An intake task at %(unit)s passed its deadline (%(due)s) without being acknowledged.") % {
            "unit": unit.name, "due": due}
    else:
        to = config.school_administration.mailbox
        subject = _("Velkommen: an intake task at %(unit)s is still not acknowledged") % {"unit": unit.name}
        first = _("An intake task (%(kind)s) at %(unit)s is still not acknowledged; its deadline was %(due)s.") % {
            "kind": kind, "unit": unit.name, "due": due}
    lines = [first, "", link, "", _("This message holds no personal data. Sign in to see the child's details.")]
    assert to is not None  # MunicipalityConfig refuses units without a mailbox
    return Mail(to=to, subject=subject, text="\n".join(lines), language=language)


def place_offered(task: dict[str, Any], config: MunicipalityConfig, queue_url: str,
                  language: str = STAFF_LANGUAGE) -> Mail:
    """A waitlisted child got a reception-class place that came free: the school now holding it is told."""
    _ = _catalog(language).gettext
    unit = config.unit(task["unit_id"])
    due = format_date(date.fromisoformat(str(task["due_date"])[:10]), format="long", locale=language)
    lines = [_("A reception-class place at %(unit)s has been offered to a waitlisted child (grade %(grade)s).") % {
                 "unit": unit.name, "grade": task.get("grade")},
             _("Act by: %(due)s.") % {"due": due}, "",
             _("See the task in Velkommen: %(link)s") % {"link": f"{queue_url}/#task-{task['_id']}"}, "",
             _("This message holds no personal data. Sign in to see the child's details.")]
    assert unit.mailbox is not None
    return Mail(to=unit.mailbox, subject=_("Velkommen: a reception-class place was offered"),
                text="\n".join(lines), language=language)


def task_arrived_notifications(tasks: list[dict[str, Any]], config: MunicipalityConfig, queue_url: str,
                               now: datetime) -> list[dict[str, Any]]:
    return [notification(f"task-arrived:{t['_id']}", "task_arrived", task_arrived(t, config, queue_url),
                         case_id=t["case_id"], now=now) for t in tasks]
