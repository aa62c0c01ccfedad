from pydantic import Field

from shared.settings import ServiceSettings


class JobMatchSettings(ServiceSettings):
    service_name: str = "job_match"
    mongodb_database: str = "velkommen_job_match"
    port: int = 8004
    # Listings loaded at start-up when the service has none yet (sample data for development and demos).
    sample_listings_file: str | None = "sample_listings.json"
    leads_per_spouse: int = 10
    # The Jobcenter team's mailbox: one digest per period lists the spouses with new leads (counts and links,
    # never the leads themselves or names).
    jobcenter_mailbox: str = Field(default="jobcenter@intake.herning.example",
                                   pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    digest_hours: float = Field(default=24.0, gt=0)
