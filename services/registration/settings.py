from pydantic import Field

from services.registration.domain import ArrivalWindow
from shared.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    service_name: str = "registration"
    mongodb_database: str = "velkommen_registration"
    port: int = 8001
    # A closed case is erased this many days after it was closed (None: never automatically). Five years by
    # default; the municipality's records-keeping duty decides the real period.
    case_retention_days: int | None = Field(default=1825, ge=0)
    retention_check_seconds: float = Field(default=3600, gt=0)
    # An arrival date further from today than this is refused as implausible (a typo in the year, usually).
    arrival_days_back: int = Field(default=365, ge=0)
    arrival_days_ahead: int = Field(default=365, ge=0)

    @property
    def arrival_window(self) -> ArrivalWindow:
        return ArrivalWindow(days_back=self.arrival_days_back, days_ahead=self.arrival_days_ahead)
