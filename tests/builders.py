"""Builders for test data: a registration body and a NewcomerArrived payload, with overridable parts."""

from __future__ import annotations

import copy
import uuid
from datetime import date, timedelta
from typing import Any

from shared.events import NEWCOMER_ARRIVED, EventEnvelope, NewcomerArrived

RECENT_ARRIVAL = (date.today() - timedelta(days=30)).isoformat()


def newcomer(**overrides: Any) -> dict[str, Any]:
    base = {
        "full_name": "Amira Haddad",
        "date_of_birth": "1987-05-14",
        "nationality": "SY",
        "preferred_language": "en",
        "languages": [{"language": "ar", "level": "native"}, {"language": "en", "level": "B2"}],
        "address": {"street": "Bredgade", "house_number": "12", "postcode": "7400", "city": "Herning"},
        # A month ago: registrations must arrive within a window around today (implausible_fields).
        "arrival_date": RECENT_ARRIVAL,
        "purpose_of_stay": "work",
        "expected_stay_months": 24,
    }
    base.update(overrides)
    return base


def spouse(**overrides: Any) -> dict[str, Any]:
    base = {
        "full_name": "Jonas Weber",
        "date_of_birth": "1985-02-01",
        "highest_education": "vocational",
        "occupation": "svejser",
        "skills": ["TIG", "MIG/MAG"],
        "languages": [{"language": "de", "level": "C1"}, {"language": "en", "level": "B2"}],
        "wants_job_help": True,
    }
    base.update(overrides)
    return base


def child(name: str, born: str, danish_level: str = "none", languages: list[str] | None = None) -> dict[str, Any]:
    return {"full_name": name, "date_of_birth": born, "languages": languages or ["ar"], "danish_level": danish_level}


def registration(*, with_spouse: bool = True, children: list[dict[str, Any]] | None = None,
                 **newcomer_overrides: Any) -> dict[str, Any]:
    """A family with a spouse and two children (7 without Danish, 2 years old), unless told otherwise."""
    kids = children if children is not None else [child("Lina Haddad", "2019-03-05"), child("Omar Haddad",
                                                                                            "2024-06-20")]
    return copy.deepcopy({
        "newcomer": newcomer(**newcomer_overrides),
        "cpr_number": "140587-1234",
        "household": {"spouse": spouse() if with_spouse else None, "children": kids},
    })


def arrival_event(body: dict[str, Any] | None = None, *, case_id: uuid.UUID | None = None,
                  municipality: str = "herning") -> EventEnvelope[NewcomerArrived]:
    body = body or registration()
    case_id = case_id or uuid.uuid4()
    payload = NewcomerArrived(case_id=case_id, municipality=municipality,
                              newcomer=body["newcomer"], household=body["household"])
    return NEWCOMER_ARRIVED.envelope(payload, producer="tests", correlation_id=case_id)


def arrival(body: dict[str, Any] | None = None, **kwargs: Any) -> NewcomerArrived:
    return arrival_event(body, **kwargs).payload


def d(text: str) -> date:
    return date.fromisoformat(text)
