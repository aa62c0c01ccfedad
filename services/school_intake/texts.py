"""The catalog messages of intake reasons (domain.ReasonCode), for staff in Danish or English.

N_ only marks a message for extraction; `reason_text` translates it with the reader's catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import Translations

from services.school_intake.domain import ReasonCode
from shared.i18n import translations

LOCALES = Path(__file__).parent / "locales"


@lru_cache(maxsize=4)
def catalog(language: str) -> Translations:
    """The staff catalog (da or en)."""
    return translations(LOCALES, language)


def N_(message: str) -> str:  # the conventional gettext marker name
    return message


REASONS: dict[ReasonCode, str] = {
    ReasonCode.UNDER_SCHOOL_AGE: N_("under school age (school starts 1 August %(school_start_year)s)"),
    ReasonCode.LANGUAGE_ASSESSMENT: N_("Danish not spoken at home: language assessment in the child's third year"),
    ReasonCode.PAST_COMPULSORY: N_(
        "age %(age)s, past compulsory schooling: the youth unit contacts them within %(days)s working days"),
    ReasonCode.GRADE_BY_COHORT: N_("grade %(grade)s by age cohort"),
    ReasonCode.BASIC_DANISH: N_("Danish level %(level)s: basic Danish teaching for up to %(years)s years"),
    ReasonCode.NEAREST_RECEPTION_CLASS: N_("nearest school with a reception class for the grade"),
    ReasonCode.NO_RECEPTION_CLASS: N_("no school offers a reception class for this grade: the administration decides"),
    ReasonCode.DISTRICT_SCHOOL: N_("district school of the family's address"),
    ReasonCode.NO_DISTRICT: N_("address not in any school district: the administration assigns a school"),
}
DANISH_LEVELS = {"none": N_("none"), "basic": N_("basic"), "good": N_("good"), "native": N_("native")}


def reason_text(stored: Any, gettext: Callable[[str], str]) -> str:
    """A stored reason ({code, params}) in the reader's language; a text stored before codes is shown as it is."""
    if isinstance(stored, str):
        return stored
    params = dict(stored.get("params") or {})
    if "level" in params:
        params["level"] = gettext(DANISH_LEVELS.get(str(params["level"]), str(params["level"])))
    return gettext(REASONS[ReasonCode(stored["code"])]) % params
