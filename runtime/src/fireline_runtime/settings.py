"""Settings shared by every service; each service subclasses :class:`ServiceSettings`.

Names are the environment variables (case-insensitive). The defaults are the local-development
values `make run` relies on; production deployments (docker-compose) set them explicitly.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fireline_runtime.jose import ALL_ALGORITHMS, LEGACY_EDDSA, Algorithm
from fireline_runtime.kafka_security import KafkaClientSettings
from fireline_runtime.settings_base import ENV_PREFIX

_ALGORITHM_ORDER = (*Algorithm, LEGACY_EDDSA)


class ServiceSettings(KafkaClientSettings):
    """Infrastructure settings every Fireline service reads."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    database_url: str = Field(
        validation_alias="DATABASE_URL",
        description="PostgreSQL URL of this service's own database (postgresql://...).",
    )
    kafka_bootstrap_servers: str = Field(
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        default="127.0.0.1:9092",
        description="Comma-separated Kafka bootstrap servers.",
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic name; lets test runs and tenants share a broker.",
    )
    topic_partitions: int = Field(
        default=3, ge=1, description="Partition count used when topics are created at start-up."
    )
    topic_replication: int = Field(
        default=1, ge=1, description="Replication factor used when topics are created."
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="min.insync.replicas of topics created at start-up: with acks=all, how many "
        "replicas must have a record before the producer is told it is written (2 of 3 on a "
        "cluster survives one broker loss without losing an acknowledged event).",
    )
    kafka_idempotence: bool = Field(
        default=True,
        description="Idempotent producers (no duplicates or reordering when a send is retried). "
        "Apache Kafka supports them; Tansu does not, so make run and tests turn this off there.",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        description="Consumer group session timeout; a first join waits about half of it.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=500,
        ge=10,
        description="Longest a consumer's fetch waits on the broker for data. Kafka answers as "
        "soon as data arrives; Tansu answers at this deadline, so make run and tests lower it.",
    )
    kafka_commit_interval_ms: int = Field(
        default=200,
        ge=0,
        description="Shortest time between a consumer's offset commits. Offsets are committed "
        "only after their records were applied, in the background; a crash re-delivers at most "
        "this much applied work, which the inbox drops. 0 commits as soon as the previous "
        "commit is done.",
    )
    consumer_max_retries: int = Field(
        default=3, ge=0, description="Handler retries before a message is sent to <topic>.dlq."
    )
    outbox_poll_interval_s: float = Field(
        default=1.0, gt=0, description="Relay poll period when no NOTIFY arrives."
    )
    outbox_linger_s: float = Field(
        default=0.0,
        ge=0,
        le=1.0,
        description="While rows arrive faster than the relay's passes (a pass sent more than "
        "one), the next pass starts no sooner than this after the last one began, and three "
        "times this after a pass of 16 rows or more (a burst), so a burst leaves in fewer, "
        "larger batches. After a pass of one row the next starts at once.",
    )
    outbox_retention_s: float = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="How long published outbox rows are kept before they are pruned; 0 deletes "
        "each row once the broker acknowledged it.",
    )
    http_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    http_port: int = Field(default=8000, description="HTTP port.")
    metrics_port: int | None = Field(
        default=None,
        description="A second port the process listens on, the one Prometheus scrapes /metrics "
        "from; keep it off the public network. Unset: /metrics is served nowhere unless "
        "FIRELINE_METRICS_ON_HTTP_PORT says so.",
    )
    metrics_on_http_port: bool = Field(
        default=False,
        description="Also answer /metrics on the HTTP port (make run and the tests' local "
        "stacks do). Off, it answers 404 there: metrics name routes, consumers and volumes that "
        "nobody outside the operators should read.",
    )
    log_level: str = Field(default="INFO", description="Log level (JSON logs).")
    shutdown_grace_s: float = Field(
        default=10.0, gt=0, description="Time in-flight work gets to finish on SIGTERM."
    )


class TokenSettings(BaseSettings):
    """Settings of a service that accepts access tokens issued by the auth service."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    token_issuer: str = Field(
        default="http://127.0.0.1:8002",
        description="Expected `iss` of access tokens: the auth service's public base URL.",
    )
    token_audience: str = Field(
        default="fireline-api", description="Expected `aud` of access tokens."
    )
    jwks_url: str = Field(
        default="http://127.0.0.1:8002/.well-known/jwks.json",
        description="Where the auth service publishes its public signing keys.",
    )
    token_leeway_s: int = Field(
        default=30, ge=0, le=300, description="Clock skew tolerated on `exp`/`iat`."
    )
    token_algorithms_text: str = Field(
        validation_alias="FIRELINE_TOKEN_ALGORITHMS",
        default=",".join(_ALGORITHM_ORDER),
        description="Comma-separated `alg` values access tokens may carry (RS256, ES256, "
        "Ed25519, EdDSA); any other is refused before a key is looked up. It must include the "
        "auth service's FIRELINE_TOKEN_SIGNING_ALG, and during a switch of that setting both the "
        "old and the new one. EdDSA is the name tokens signed by Ed25519 keys created before "
        "RFC 9864's Ed25519 was used still carry.",
    )

    identity_event_public_keys: str = Field(
        default="",
        description="Comma-separated Ed25519 public keys (base64url, 32 bytes) of identity's "
        "event signing key (FIRELINE_EVENT_SIGNING_KEY on identity; two while it is rotated). Set: "
        "key events without identity's signature are dead-lettered unapplied, and revocation is "
        "bounded by FIRELINE_KEYS_VIEW_MAX_AGE_S. Unset: neither (logged at start-up).",
    )
    keys_view_max_age_s: float = Field(
        default=10.0,
        gt=0,
        description="The revocation bound: once this service's view of identity's keys topic "
        "(identity's watermarks) is older than this, auth refuses exchanges and the resource "
        "servers refuse tokens (503 with Retry-After) until it is current again. Needs "
        "FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS.",
    )

    @field_validator("token_algorithms_text")
    @classmethod
    def _known_algorithms(cls, value: str) -> str:
        names = _split(value)
        unknown = sorted(names - ALL_ALGORITHMS)
        if not names or unknown:
            raise ValueError(
                f"unknown or no algorithm ({', '.join(unknown) or 'empty'}); "
                f"choose among {', '.join(_ALGORITHM_ORDER)}"
            )
        return value

    @property
    def token_algorithms(self) -> frozenset[str]:
        """The verifier's allow-list."""
        return _split(self.token_algorithms_text)


class UiClientSettings(BaseSettings):
    """The web UI's backend (identity) as auth's client: set alike on identity and auth."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    ui_client_id: str = Field(
        default="fireline-ui",
        min_length=1,
        description="Client id of the web UI's backend (identity) at auth: the `iss` of its "
        "assertions of logged-in people and the `client_id` of people's tokens.",
    )
    ui_client_secret_text: SecretStr | None = Field(
        validation_alias="FIRELINE_UI_CLIENT_SECRET",
        default=None,
        description="Secret identity and auth share (at least 32 characters) that MACs "
        "identity's assertions of logged-in people, for which auth issues access tokens (RFC "
        "7523 JWT bearer grant). Unset: no tokens for people, and the web UI has no incident "
        "pages.",
    )

    @field_validator("ui_client_secret_text")
    @classmethod
    def _ui_secret_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("at least 32 characters (HS256 needs a 256-bit secret)")
        return value

    @property
    def ui_client_secret(self) -> bytes | None:
        secret = self.ui_client_secret_text
        return None if secret is None else secret.get_secret_value().encode()


def _split(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())
