"""School intake test fixtures: a municipality with a single reception-class place, so the waitlist is reached."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from services.school_intake import domain
from services.school_intake.app import create_app
from services.school_intake.settings import SchoolIntakeSettings
from shared.municipality import load_municipality_file
from tests.apps import running

HERNING = load_municipality_file(Path(domain.__file__).parent, "herning")


def one_seat_config() -> domain.MunicipalityConfig:
    """Herning's sample with a single reception class (grades 0-2, one place) so the waitlist is reachable."""
    raw = json.loads(json.dumps(HERNING))
    for school in raw["schools"]:
        school["reception_classes"] = []
    raw["schools"][0]["reception_classes"] = [{"grades": [0, 2], "capacity": 1}]
    return domain.MunicipalityConfig.model_validate(raw)


@pytest.fixture
async def one_seat(infrastructure):
    settings = infrastructure.settings(SchoolIntakeSettings,
                                       mongodb_database=f"test_{infrastructure.run_id}_intake_{uuid.uuid4().hex[:6]}")
    app = create_app(settings, config=one_seat_config())
    async with running(app) as client:
        yield client, app
