from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class WelcomePackSettings(ServiceSettings):
    service_name: str = "welcome_pack"
    mongodb_database: str = "velkommen_welcome_pack"
    port: int = 8002
    # Signs the unsubscribe links in family mails (HMAC). Required outside development: a link must work from
    # any replica and after a restart, and must not be guessable.
    # It also derives the sign-in codes printed in letters (with a per-code random nonce; see signin.py).
    mail_link_secret: SecretStr = SecretStr("")
    # The family's sign-in link: how long a code works, how long a session lasts, how many failed tries
    # (per case and per client) within the window before further tries are refused.
    sign_in_code_days: int = Field(default=60, ge=1)
    family_session_days: int = Field(default=30, ge=1)
    sign_in_max_failures_per_case: int = Field(default=5, ge=1)
    sign_in_max_failures_per_client: int = Field(default=20, ge=1)
    sign_in_failure_window_minutes: int = Field(default=15, ge=1)

    # The weekly reminder of plan steps due soon (plan_reminders.py): how often the job looks, how far ahead.
    plan_reminder_check_seconds: float = Field(default=3600.0, gt=0)
    plan_reminder_days_ahead: int = Field(default=7, ge=1)
    # How often refused family addresses are looked for and told to registration.
    refusal_check_seconds: float = Field(default=30.0, gt=0)

    @property
    def sign_in_code_valid(self) -> timedelta:
        return timedelta(days=self.sign_in_code_days)

    @property
    def family_session_valid(self) -> timedelta:
        return timedelta(days=self.family_session_days)

    def link_secret(self) -> bytes:
        """The secret, or with the development issuer (and only then) a fixed development one; the app asks at
        start-up, so a production service without it does not start."""
        secret = self.mail_link_secret.get_secret_value()
        if secret:
            return secret.encode()
        if self.auth_dev_issuer:
            return b"velkommen-development-only-mail-links"
        raise ValueError("MAIL_LINK_SECRET must be set (it signs the unsubscribe links in family mails)")
