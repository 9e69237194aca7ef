"""Settings of the identity service (environment variables, case-insensitive)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from fireline_runtime.settings import ServiceSettings, UiClientSettings


class Settings(ServiceSettings, UiClientSettings):
    http_port: int = Field(default=8001, description="HTTP port.")
    public_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Public base URL of identity; its origin is the one state-changing browser "
        "requests may come from.",
    )
    allowed_origins: str = Field(
        default="",
        description="Extra origins allowed on state-changing requests, comma-separated "
        "(e.g. a UI served from another host).",
    )
    cookie_secure: bool = Field(
        default=True,
        description="Mark the session cookie Secure (HTTPS only). Only plain-HTTP local "
        "development turns this off.",
    )
    admin_email: str | None = Field(
        default=None, description="Email of the admin created with org `default` at first start."
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of that admin (at least 12 characters); ignored once an org exists.",
    )
    session_idle_timeout_s: int = Field(
        default=12 * 3600, ge=60, description="A session ends after this long without a request."
    )
    session_absolute_timeout_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="A session ends this long after login."
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        description="Reverse proxies in front of identity whose X-Forwarded-For entries are "
        "trusted for the client address used by login throttling; 0 trusts none.",
    )

    audit_retention_days: int = Field(
        default=365,
        ge=1,
        description="Audit log entries older than this many days are deleted (checked hourly).",
    )
    secret_scanning_keys_file: str | None = Field(
        default=None,
        description="JSON file of the secret scanner's public keys, in the shape of GitHub's "
        'public-keys document ({"public_keys": [{"key_identifier", "key", "is_current"}]}); '
        "re-read when it changes. Unset: every secret-scanning report is refused (401).",
    )

    auth_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Base URL at which identity reaches auth's token endpoint.",
    )
    token_issuer: str = Field(
        default="http://127.0.0.1:8002",
        description="Auth's issuer (its FIRELINE_TOKEN_ISSUER): the audience of identity's "
        "assertions.",
    )
    incidents_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Base URL at which identity reaches the incidents API for the web UI.",
    )

    event_signing_key: SecretStr | None = Field(
        default=None,
        description="Identity's Ed25519 event signing key (base64url of its 32-byte seed; "
        "`python -m fireline_runtime.event_signing` makes a pair). Every record of the keys "
        "topic is signed with it, and the services that act on key events accept only records "
        "that verify with its public key (their FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS); it also "
        "turns on the keys topic's watermarks. Unset: key events are unsigned (logged at "
        "start-up).",
    )
    keys_watermark_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=5,
        description="How often identity writes a watermark to every partition of the keys "
        "topic; consumers' bound (FIRELINE_KEYS_VIEW_MAX_AGE_S, 10 s) must exceed it by the "
        "relay's and consumers' latency.",
    )

    def extra_origins(self) -> list[str]:
        return [o.strip() for o in self.allowed_origins.split(",") if o.strip()]
