"""Pure rules of job matching: spouse profiles, listings, hard filters, score and explanation. No I/O.

A lead is only made from a listing the spouse may take (right to work, every required language at its level,
listing open today) and that fits them (a shared skill or the same occupation). The score ranks leads; the
explanation says why each one fits and what is missing.
"""

from __future__ import annotations

import hashlib
import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from services.job_match.vocabulary import SKILL_SYNONYMS
from shared.events import (
    EducationLevel,
    JobListingPublished,
    LanguageLevel,
    LanguageSkill,
    NewcomerArrived,
    PurposeOfStay,
)
from shared.workflow import Workflow

_LEAD_NAMESPACE = uuid.UUID("8d3f5b7a-1c2e-4f60-9a8b-7c6d5e4f3a21")

# Accompanying family of these newcomers may work in Denmark without a permit of their own.
# "other" is left to the adviser: the legal basis must be checked case by case.
_SPOUSE_MAY_WORK = {
    PurposeOfStay.WORK,
    PurposeOfStay.STUDY,
    PurposeOfStay.EU_EEA_CITIZEN,
    PurposeOfStay.REFUGEE,
    PurposeOfStay.FAMILY_REUNIFICATION,
}

WEIGHTS = {"required_skill": 40.0, "wanted_skill": 15.0, "occupation": 20.0, "education": 10.0, "language": 5.0,
           "municipality": 10.0}


@cache
def _synonym_table() -> dict[str, str]:
    table = {}
    for canonical, words in SKILL_SYNONYMS.items():
        table[canonical.casefold()] = canonical
        for word in words:
            table[word.casefold()] = canonical
    return table


def normalise_skill(text: str) -> str:
    """'Svejser' -> 'welding'; an unknown skill stays as its lower-case text, so it can still match itself."""
    key = " ".join(text.casefold().split())
    return _synonym_table().get(key, key)


def normalise_skills(texts: list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise_skill(t) for t in texts if t.strip())


class SpouseProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: uuid.UUID
    full_name: str
    education: EducationLevel
    occupation: str | None
    skills: frozenset[str]
    languages: dict[str, LanguageLevel]
    municipality: str
    wants_job_help: bool
    may_work: bool

    @property
    def search_terms(self) -> frozenset[str]:
        """What the listing index is queried with: the spouse's skills and occupation."""
        return self.skills | ({self.occupation} if self.occupation else frozenset())


def spouse_profile(arrival: NewcomerArrived) -> SpouseProfile | None:
    spouse = arrival.household.spouse
    if spouse is None:
        return None
    occupation = normalise_skill(spouse.occupation) if spouse.occupation else None
    skills = normalise_skills(spouse.skills) | ({occupation} if occupation else frozenset())
    return SpouseProfile(
        case_id=arrival.case_id,
        full_name=spouse.full_name,
        education=spouse.highest_education,
        occupation=occupation,
        skills=skills,
        languages={s.language: s.level for s in spouse.languages},
        municipality=arrival.municipality,
        wants_job_help=spouse.wants_job_help,
        may_work=arrival.newcomer.purpose_of_stay in _SPOUSE_MAY_WORK,
    )


class Listing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    employer: str = Field(min_length=1, max_length=300)
    municipality: str
    workplace_address: str | None = None
    occupation: str | None = None
    required_skills: tuple[str, ...] = ()
    wanted_skills: tuple[str, ...] = ()
    required_languages: tuple[LanguageSkill, ...] = ()
    education_level: EducationLevel = EducationLevel.NONE
    hours_per_week: float | None = Field(default=None, ge=0, le=80)
    published: date
    expires: date

    @classmethod
    def from_event(cls, event: JobListingPublished) -> Listing:
        """The listing a JobListingPublished announces."""
        return cls(id=event.listing_id, **event.model_dump(exclude={"listing_id"}))

    @property
    def index_terms(self) -> frozenset[str]:
        """Canonical skills and occupation, for the listing index."""
        terms = normalise_skills(self.required_skills) | normalise_skills(self.wanted_skills)
        return terms | ({normalise_skill(self.occupation)} if self.occupation else frozenset())


@dataclass(frozen=True, slots=True)
class ListingFacts:
    """What matching reads of a listing, in canonical form, computed once (the index keeps these)."""

    listing: Listing
    required: frozenset[str]
    wanted: frozenset[str]
    occupation: str | None
    municipality: str
    languages: tuple[tuple[str, int], ...]  # (language, minimum level rank)
    education_rank: int
    published: date
    expires: date

    @classmethod
    def of(cls, listing: Listing) -> ListingFacts:
        required = normalise_skills(listing.required_skills)
        return cls(
            listing=listing,
            required=required,
            wanted=normalise_skills(listing.wanted_skills) - required,
            occupation=normalise_skill(listing.occupation) if listing.occupation else None,
            municipality=listing.municipality.casefold(),
            languages=tuple((r.language, r.level.rank) for r in listing.required_languages),
            education_rank=listing.education_level.rank,
            published=listing.published,
            expires=listing.expires,
        )


class LeadExplanation(BaseModel):
    model_config = ConfigDict(frozen=True)

    matched_required_skills: list[str]
    matched_wanted_skills: list[str]
    missing_required_skills: list[str]
    occupation_match: bool
    languages_met: list[str]
    education_fit: bool
    same_municipality: bool
    # An English sentence of the above, for API readers; the pages render the fields in the reader's language.
    summary: str
    education_required: EducationLevel | None = None


class JobLead(BaseModel):
    model_config = ConfigDict(frozen=True)

    listing_id: str
    title: str
    employer: str
    municipality: str
    expires: date
    score: float
    explanation: LeadExplanation


class LeadStatus(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    APPLIED = "applied"
    HIRED = "hired"
    NOT_RELEVANT = "not_relevant"
    # The family turned job help off: the lead waits, out of the advisers' hands, until it is turned on again.
    WITHDRAWN = "withdrawn"


# The advisers' moves. A withdrawn lead has none: only the family's choice moves it (family_choice_moves).
LEAD_WORKFLOW = Workflow[LeadStatus]({
    LeadStatus.NEW: frozenset({LeadStatus.CONTACTED, LeadStatus.NOT_RELEVANT}),
    LeadStatus.CONTACTED: frozenset({LeadStatus.APPLIED, LeadStatus.NOT_RELEVANT}),
    LeadStatus.APPLIED: frozenset({LeadStatus.HIRED, LeadStatus.NOT_RELEVANT}),
    LeadStatus.HIRED: frozenset(),
    LeadStatus.NOT_RELEVANT: frozenset(),
    LeadStatus.WITHDRAWN: frozenset(),
})

_OPEN_LEAD_STATUSES = frozenset({LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.APPLIED})


def family_choice_moves(status: LeadStatus, wants_job_help: bool) -> LeadStatus | None:
    """What the family's job-help choice does to a lead: turned off, an open lead is withdrawn; turned on, a
    withdrawn lead is new again (the adviser starts over: the family's situation may have changed). Hired and
    not relevant stay as the adviser left them."""
    if not wants_job_help and status in _OPEN_LEAD_STATUSES:
        return LeadStatus.WITHDRAWN
    if wants_job_help and status is LeadStatus.WITHDRAWN:
        return LeadStatus.NEW
    return None


def worth_adding(lead: JobLead, current_scores: list[float], limit: int) -> bool:
    """A re-match adds a lead only while the spouse has fewer than `limit`, or when it beats the weakest."""
    return len(current_scores) < limit or lead.score > min(current_scores)


def listing_fingerprint(listing: Listing) -> str:
    """Changes when anything a match depends on changes: an unchanged re-import publishes nothing."""
    return hashlib.sha256(listing.model_dump_json().encode()).hexdigest()


def lead_id_for(case_id: uuid.UUID, listing_id: str) -> uuid.UUID:
    """One lead per spouse and listing: re-matching never duplicates a lead."""
    return uuid.uuid5(_LEAD_NAMESPACE, f"{case_id}:{listing_id}")


def unmet_languages(profile: SpouseProfile, listing: Listing) -> list[str]:
    """For advisers: which language requirements the spouse does not meet."""
    return [
        f"{req.language} {req.level.value}"
        for req in listing.required_languages
        if not (req.language in profile.languages and profile.languages[req.language].at_least(req.level))
    ]


def is_open(listing: Listing, today: date) -> bool:
    return listing.published <= today <= listing.expires


def _score(profile: SpouseProfile, language_ranks: dict[str, int], facts: ListingFacts, today: date) -> float | None:
    """The lead's score, or None when the listing is not for this spouse. Cheap: runs for every candidate."""
    if not (facts.published <= today <= facts.expires):
        return None
    for language, minimum in facts.languages:
        if language_ranks.get(language, 0) < minimum:
            return None
    required, wanted = facts.required, facts.wanted
    matched_required = len(profile.skills & required)
    matched_wanted = len(profile.skills & wanted)
    occupation_match = facts.occupation is not None and facts.occupation == profile.occupation
    if not (matched_required or matched_wanted or occupation_match):
        return None  # nothing in common: not a lead, however open the listing is
    return round(
        WEIGHTS["required_skill"] * (matched_required / len(required) if required else 1.0)
        + WEIGHTS["wanted_skill"] * (matched_wanted / len(wanted) if wanted else 0.0)
        + WEIGHTS["occupation"] * occupation_match
        + WEIGHTS["education"] * (profile.education.rank >= facts.education_rank)
        + WEIGHTS["language"] * bool(facts.languages)
        + WEIGHTS["municipality"] * (facts.municipality == profile.municipality.casefold()),
        2,
    )


def _explained(profile: SpouseProfile, facts: ListingFacts, score: float) -> JobLead:
    listing = facts.listing
    matched_required = sorted(profile.skills & facts.required)
    matched_wanted = sorted(profile.skills & facts.wanted)
    occupation_match = facts.occupation is not None and facts.occupation == profile.occupation
    education_fit = profile.education.rank >= facts.education_rank
    same_municipality = facts.municipality == profile.municipality.casefold()
    languages_met = [f"{r.language} {r.level.value}" for r in listing.required_languages]
    missing = sorted(facts.required - profile.skills)
    reasons = []
    if matched_required:
        reasons.append("has the required skills: " + ", ".join(matched_required))
    if matched_wanted:
        reasons.append("also has: " + ", ".join(matched_wanted))
    if occupation_match:
        reasons.append("same occupation")
    reasons.append("meets the language requirements: " + ", ".join(languages_met) if languages_met
                   else "no language requirement")
    if not education_fit:
        reasons.append(f"asks for {listing.education_level.value} education")
    if missing:
        reasons.append("missing: " + ", ".join(missing))
    return JobLead(
        listing_id=listing.id, title=listing.title, employer=listing.employer, municipality=listing.municipality,
        expires=listing.expires, score=score,
        explanation=LeadExplanation(
            matched_required_skills=matched_required, matched_wanted_skills=matched_wanted,
            missing_required_skills=missing, occupation_match=occupation_match, languages_met=languages_met,
            education_fit=education_fit, same_municipality=same_municipality, summary="; ".join(reasons),
            education_required=None if education_fit else listing.education_level,
        ),
    )


def _language_ranks(profile: SpouseProfile) -> dict[str, int]:
    return {language: level.rank for language, level in profile.languages.items()}


def evaluate(profile: SpouseProfile, listing: Listing | ListingFacts, today: date) -> JobLead | None:
    """A lead with its score and reasons, or None when the listing is not for this spouse."""
    if not profile.may_work:
        return None
    facts = listing if isinstance(listing, ListingFacts) else ListingFacts.of(listing)
    score = _score(profile, _language_ranks(profile), facts, today)
    return None if score is None else _explained(profile, facts, score)


def rank_leads(profile: SpouseProfile, candidates: Iterable[Listing | ListingFacts], today: date,
               limit: int) -> list[JobLead]:
    """The best `limit` leads, best first; ties broken by the listing that expires first, then its id.

    Every candidate is scored; only the ones kept are explained (building the explanation is the costly part).
    """
    if not profile.wants_job_help or not profile.may_work:
        return []
    ranks = _language_ranks(profile)
    scored = []
    for candidate in candidates:
        facts = candidate if isinstance(candidate, ListingFacts) else ListingFacts.of(candidate)
        score = _score(profile, ranks, facts, today)
        if score is not None:
            scored.append((score, facts))
    best = heapq.nsmallest(limit, scored, key=lambda item: (-item[0], item[1].expires, item[1].listing.id))
    return [_explained(profile, facts, score) for score, facts in best]
