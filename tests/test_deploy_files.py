"""docker-compose.yml cannot run here (no Docker engine); these checks keep it consistent with the code."""

from pathlib import Path

import yaml

from services.job_match.settings import JobMatchSettings
from services.registration.settings import RegistrationSettings
from services.school_intake.settings import SchoolIntakeSettings
from services.welcome_pack.settings import WelcomePackSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"registration": RegistrationSettings, "welcome_pack": WelcomePackSettings,
            "school_intake": SchoolIntakeSettings, "job_match": JobMatchSettings}


def test_compose_runs_each_service_with_its_own_database_port_and_known_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, settings_class in SETTINGS.items():
        service = compose["services"][name]
        env = service["environment"]
        defaults = settings_class()
        assert env["SERVICE"] == name
        assert env["MONGODB_DATABASE"] == defaults.mongodb_database
        assert env["PORT"] == str(defaults.port)
        assert service["ports"] == [f"{defaults.port}:{defaults.port}"]
        known = {field.upper() for field in settings_class.model_fields} | {"SERVICE"}
        assert set(env) <= known, set(env) - known
        assert service["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                         "mongo": {"condition": "service_healthy"}}
    assert len({s["environment"]["MONGODB_DATABASE"] for n, s in compose["services"].items() if n in SETTINGS}) == 4


def test_every_service_module_has_the_same_shape():
    for name in SETTINGS:
        folder = ROOT / "services" / name
        for module in ("app.py", "api.py", "domain.py", "store.py", "settings.py", "schemas.py"):
            assert (folder / module).exists(), f"{name} lacks {module}"
