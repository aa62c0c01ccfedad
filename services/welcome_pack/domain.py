"""Pure rules of the welcome pack: which sections a household's letter has. No I/O, no clock reads."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from shared.events import NewcomerArrived, PurposeOfStay

_LETTER_NAMESPACE = uuid.UUID("0b6a4f52-4a7e-4f8e-9b0c-5a1c2d3e4f50")
# Herning's international strategy: Danish, English and German letters; Chinese, Arabic, Russian, Spanish, French.
SUPPORTED_LANGUAGES = ("da", "en", "de", "zh", "ar", "ru", "es", "fr")
RIGHT_TO_LEFT = frozenset({"ar"})
FALLBACK_LANGUAGE = "en"


class LetterSection(StrEnum):
    """The sections of a welcome letter, in the order they are printed."""

    CPR_AND_MITID = "cpr_and_mitid"
    EU_REGISTRATION = "eu_registration"
    DIGITAL_POST = "digital_post"
    HEALTH_CARD_AND_GP = "health_card_and_gp"
    TAX_CARD = "tax_card"
    DANISH_LESSONS = "danish_lessons"
    DAYCARE = "daycare"
    SCHOOL = "school"
    INTERNATIONAL_SCHOOL = "international_school"
    LANGUAGE_ASSESSMENT = "language_assessment"
    SPOUSE_JOB_HELP = "spouse_job_help"
    STUDENTS = "students"
    INTEGRATION_PROGRAMME = "integration_programme"
    LIBRARY_AND_CLUBS = "library_and_clubs"
    INTERNATIONAL_NETWORK = "international_network"
    BORGERSERVICE_CONTACT = "borgerservice_contact"


SCHOOL_START_AGE = 6
ADULT_AGE = 18


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def letter_id_for(case_id: uuid.UUID, language: str) -> uuid.UUID:
    """One letter per case and language: a redelivered event finds the letter it already made."""
    return uuid.uuid5(_LETTER_NAMESPACE, f"{case_id}:{language}")


def letter_language(preferred: str) -> str:
    return preferred if preferred in SUPPORTED_LANGUAGES else FALLBACK_LANGUAGE


def letter_sections(arrival: NewcomerArrived) -> list[LetterSection]:
    purpose = arrival.newcomer.purpose_of_stay
    household = arrival.household
    chosen = {
        LetterSection.CPR_AND_MITID,
        LetterSection.DIGITAL_POST,
        LetterSection.HEALTH_CARD_AND_GP,
        LetterSection.TAX_CARD,
        LetterSection.DANISH_LESSONS,
        LetterSection.LIBRARY_AND_CLUBS,
        LetterSection.INTERNATIONAL_NETWORK,
        LetterSection.BORGERSERVICE_CONTACT,
    }
    if purpose is PurposeOfStay.EU_EEA_CITIZEN:
        chosen.add(LetterSection.EU_REGISTRATION)
    if purpose is PurposeOfStay.STUDY:
        chosen.add(LetterSection.STUDENTS)
    if purpose is PurposeOfStay.REFUGEE:
        chosen.add(LetterSection.INTEGRATION_PROGRAMME)
    ages = [age_on(child.date_of_birth, arrival.newcomer.arrival_date) for child in household.children]
    if any(age < SCHOOL_START_AGE for age in ages):
        chosen |= {LetterSection.DAYCARE, LetterSection.LANGUAGE_ASSESSMENT}
    if any(SCHOOL_START_AGE - 1 <= age < ADULT_AGE for age in ages):
        chosen |= {LetterSection.SCHOOL, LetterSection.INTERNATIONAL_SCHOOL}
    if household.spouse is not None and household.spouse.wants_job_help:
        chosen.add(LetterSection.SPOUSE_JOB_HELP)
    return [s for s in LetterSection if s in chosen]
