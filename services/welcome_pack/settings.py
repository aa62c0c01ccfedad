from shared.settings import ServiceSettings


class WelcomePackSettings(ServiceSettings):
    service_name: str = "welcome_pack"
    mongodb_database: str = "velkommen_welcome_pack"
    port: int = 8002
