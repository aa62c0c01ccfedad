from shared.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    service_name: str = "registration"
    mongodb_database: str = "velkommen_registration"
    port: int = 8001
