"""Reading job listings from Jobnet-style exports (JSON and CSV) and the shipped sample. Pure parsing.

A bad row never stops an import: it is reported with its line (CSV) or position (JSON) and the reason,
and the good rows are imported.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from services.job_match.domain import Listing

DATA = Path(__file__).parent / "data"
CSV_COLUMNS = ("id", "title", "employer", "municipality", "workplace_address", "occupation", "required_skills",
               "wanted_skills", "required_languages", "education_level", "hours_per_week", "published", "expires")


class ListingImport(Listing):
    """A listing as imported: a misspelt or unknown column is an error on its row, not a silently empty field."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class RowError(BaseModel):
    line: int
    listing_id: str | None
    reason: str


def _reason(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())


def _validate(raw: dict[str, Any], line: int, listings: list[Listing], errors: list[RowError]) -> None:
    try:
        listing: Listing = ListingImport.model_validate(raw)
    except ValidationError as exc:
        errors.append(RowError(line=line, listing_id=str(raw.get("id") or "") or None, reason=_reason(exc)))
        return
    if listing.expires < listing.published:
        errors.append(RowError(line=line, listing_id=listing.id, reason="expires is before published"))
        return
    listings.append(listing)


def parse_json(text: str) -> tuple[list[Listing], list[RowError]]:
    """A JSON array of listings, or {"listings": [...]}; `line` is the 1-based position in the array."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [RowError(line=exc.lineno, listing_id=None, reason=f"not valid JSON: {exc.msg}")]
    rows = data.get("listings") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return [], [RowError(line=1, listing_id=None, reason='expected a list of listings or {"listings": [...]}')]
    listings: list[Listing] = []
    errors: list[RowError] = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            errors.append(RowError(line=position, listing_id=None, reason="a listing must be an object"))
            continue
        _validate(row, position, listings, errors)
    return listings, errors


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").split(";") if part.strip()]


def _languages(cell: str | None) -> list[dict[str, str]]:
    """'en:B2; de:B1' -> [{"language": "en", "level": "B2"}, ...]"""
    result = []
    for part in _split(cell):
        language, _, level = part.partition(":")
        result.append({"language": language.strip(), "level": level.strip()})
    return result


def parse_csv(text: str) -> tuple[list[Listing], list[RowError]]:
    """CSV with a header row (CSV_COLUMNS); lists are ';'-separated; `line` is the file's line number."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("id", "title", "employer", "municipality", "published", "expires")
               if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowError(line=1, listing_id=None, reason=f"header lacks columns: {', '.join(missing)}")]
    listings: list[Listing] = []
    errors: list[RowError] = []
    for row in reader:
        raw: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        raw["required_skills"] = _split(row.get("required_skills"))
        raw["wanted_skills"] = _split(row.get("wanted_skills"))
        raw["required_languages"] = _languages(row.get("required_languages"))
        for optional in ("workplace_address", "occupation", "hours_per_week", "education_level"):
            if not raw.get(optional):
                raw.pop(optional, None)
        _validate(raw, reader.line_num, listings, errors)
    return listings, errors


def sample_listings(file_name: str, today: date) -> list[Listing]:
    """The sample file's listings, dates shifted so that the sample is as current today as when it was made."""
    raw = json.loads((DATA / file_name).read_text(encoding="utf-8"))
    shift = today - date.fromisoformat(raw["dated_on"])
    listings = []
    for item in raw["listings"]:
        item = {**item}
        for field in ("published", "expires"):
            item[field] = (date.fromisoformat(item[field]) + shift).isoformat()
        listings.append(Listing.model_validate(item))
    return listings

