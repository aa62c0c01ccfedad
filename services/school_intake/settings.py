from shared.settings import ServiceSettings


class SchoolIntakeSettings(ServiceSettings):
    service_name: str = "school_intake"
    mongodb_database: str = "velkommen_school_intake"
    port: int = 8003
