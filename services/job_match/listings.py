"""Loading listings from files (the sample shipped with the service)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from services.job_match.domain import Listing

DATA = Path(__file__).parent / "data"


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
