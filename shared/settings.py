"""Settings read from environment variables; each service subclasses ServiceSettings with its own defaults."""

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    service_name: str = "velkommen"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic name: lets tests (or several installations on one cluster) stay apart.
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = Field(default=6, ge=1)
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    # Each service owns its database; the default name is set by the service's subclass.
    mongodb_database: str = "velkommen"
    # Consumer: records per poll, and how often a failing event is retried before it goes to the dead letters.
    consumer_max_records: int = Field(default=200, ge=1)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_backoff_seconds: float = Field(default=0.5, gt=0)
    # A consumer that fetches nothing this long while events wait (and the group's offsets stand still between
    # two such checks) is replaced by a new one.
    consumer_stall_seconds: float = Field(default=20.0, gt=0)
    # How long the broker holds a consumer's fetch when nothing is there. An event that arrives ends the wait at
    # once (one byte is enough), so this is not a delay, as long as every fetch names every partition (see
    # shared.bus.PREFETCH_HOLD_SECONDS: otherwise it was a 5 s stall under load); a short wait only makes idle
    # consumers ask more often (Kafka's default, 500 ms, is two fetches a second per consumer: with the four
    # services idle, the broker used 92 ms of CPU a second at 500 ms and 66 at 5 s, each service 3-5 ms less;
    # bench.size's idle phase).
    consumer_fetch_max_wait_ms: int = Field(default=5000, ge=100, le=30_000)
    # While events keep coming, how long a consumer lets more gather after a poll brought some, before handling
    # them: one pass (a few database commands, an offset commit) for what would otherwise be several of an event
    # or two each. After a quiet spell an event is handled at once. 0: never wait. (bench.flow at 50/s: 100 ms
    # cut the CPU per registration by 6-10 %.)
    consumer_linger_ms: int = Field(default=100, ge=0, le=5_000)
    # How often a consumer commits the offsets of the events it has handled (and at a stop, and before it gives
    # up partitions in a rebalance). A crash redelivers what was handled since the last commit, which the handlers,
    # idempotent, take as nothing new. 0: after every poll's events. (Each commit is a request the broker writes
    # to its offsets log: after every poll that was ~10 a second per consumer at 50 registrations/s.)
    consumer_commit_interval_ms: int = Field(default=1000, ge=0, le=60_000)
    # Outbox relay: how often it looks for pending events when nothing woke it (every write in the process wakes
    # it; the poll is the safety net, and on FerretDB each poll reads the recently changed documents), and the
    # lease on an event it is publishing.
    outbox_poll_seconds: float = Field(default=5.0, gt=0)
    # While events keep coming (the relay's last pass published some), how long it lets the next writes gather
    # before the next pass: one claim insert and one marker insert for what would be several passes of an event
    # each (registration under load: a pass per POST). After a quiet spell an event goes out at once. 0: never.
    outbox_linger_ms: int = Field(default=20, ge=0, le=1_000)
    # How often the relay also scans for pending events it was not told about (written by a process that died
    # before its relay saw them; a restarted process scans at start anyway). On FerretDB every such scan reads the
    # whole collection, so not often.
    outbox_scan_seconds: float = Field(default=300.0, gt=0)
    outbox_lease_seconds: float = Field(default=30.0, gt=0)
    # Compaction (shared/outbox.py, OutboxCompactor): how often; how old published entries, claims and turns must
    # be before they go (well past any lease); how long a marker outlives its entry.
    outbox_compact_seconds: float = Field(default=600.0, gt=0)
    outbox_keep_seconds: float = Field(default=3600.0, ge=0)
    outbox_compaction_grace_seconds: float = Field(default=300.0, ge=0)
    # Municipality whose configuration the services use (data files are looked up by this name).
    municipality: str = "herning"
    # Traces: an OTLP/HTTP collector (e.g. http://otel-collector:4318); empty: no traces are exported.
    otel_exporter_otlp_endpoint: str = ""

    # Authentication: tokens from the municipality's identity broker (OIDC-style RS256 JWTs) ...
    auth_issuer: str = ""
    auth_audience: str = "velkommen"
    auth_jwks_url: str = ""
    auth_role_claim: str = "role"
    # ... or, for development and tests only, from the built-in dev issuer (refused unless this is true).
    auth_dev_issuer: bool = False
    auth_dev_key_file: str = ".data/dev-auth/signing-key.pem"
    # Sessions from the login page are cookies; set true behind HTTPS (everywhere but a developer's machine).
    session_cookie_secure: bool = False
    # Where staff's browsers reach each service's pages (links in the shared navigation; never called server-side).
    registration_url: str = "http://127.0.0.1:8001"
    welcome_pack_url: str = "http://127.0.0.1:8002"
    school_intake_url: str = "http://127.0.0.1:8003"
    job_match_url: str = "http://127.0.0.1:8004"

    # Mail (shared/notify.py): any SMTP relay; Mailpit (deploy/mailpit.sh) locally and in CI. The password is
    # never logged (SecretStr).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=15.0, gt=0)
    mail_from: str = "Velkommen <velkommen@herning.dk>"
    # A notification the server keeps refusing for a passing reason (4xx, down) is retried with backoff this many
    # times before it is marked failed; the sender looks for due notifications this often.
    notification_max_attempts: int = Field(default=8, ge=1)
    notification_poll_seconds: float = Field(default=2.0, gt=0)
    # How many SMTP connections a sender uses at once: one mail is several round trips to the relay, so over one
    # connection a relay a few milliseconds away caps the mails per second (bench/mail.py measures it).
    notification_smtp_connections: int = Field(default=4, ge=1, le=32)

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"

    @property
    def consumer_group(self) -> str:
        return f"{self.kafka_topic_prefix}{self.service_name}"
