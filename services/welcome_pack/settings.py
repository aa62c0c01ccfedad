from __future__ import annotations

from pydantic import SecretStr

from shared.settings import ServiceSettings


class WelcomePackSettings(ServiceSettings):
    service_name: str = "welcome_pack"
    mongodb_database: str = "velkommen_welcome_pack"
    port: int = 8002
    # Signs the unsubscribe links in family mails (HMAC). Required outside development: a link must work from
    # any replica and after a restart, and must not be guessable.
    mail_link_secret: SecretStr = SecretStr("")

    def link_secret(self) -> bytes:
        """The secret, or with the development issuer (and only then) a fixed development one; the app asks at
        start-up, so a production service without it does not start."""
        secret = self.mail_link_secret.get_secret_value()
        if secret:
            return secret.encode()
        if self.auth_dev_issuer:
            return b"velkommen-development-only-mail-links"
        raise ValueError("MAIL_LINK_SECRET must be set (it signs the unsubscribe links in family mails)")
