"""Pure rules of the welcome pack: which sections a household's letter has. No I/O, no clock reads."""

from __future__ import annotations

import uuid
from enum import StrEnum

from shared.events import NewcomerArrived, PurposeOfStay
from shared.schooling import SchoolAgeRules, SchoolingStage, schooling_stage

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


# The letter follows the same school-age rule as the intake tasks (shared.schooling), with Denmark's numbers.
SCHOOL_AGE_RULES = SchoolAgeRules()


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
    stages = {schooling_stage(child.date_of_birth, arrival.newcomer.arrival_date, SCHOOL_AGE_RULES)
              for child in household.children}
    if SchoolingStage.UNDER_SCHOOL_AGE in stages:
        chosen |= {LetterSection.DAYCARE, LetterSection.LANGUAGE_ASSESSMENT}
    if stages & {SchoolingStage.COMPULSORY_SCHOOL, SchoolingStage.PAST_COMPULSORY}:
        chosen |= {LetterSection.SCHOOL, LetterSection.INTERNATIONAL_SCHOOL}
    if household.spouse is not None and household.spouse.wants_job_help:
        chosen.add(LetterSection.SPOUSE_JOB_HELP)
    return [s for s in LetterSection if s in chosen]
