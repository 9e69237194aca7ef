"""Settings of the auth service (environment variables, case-insensitive)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, ValidationError, field_validator

from fireline_auth.domain.people import UiClient
from fireline_runtime.jose import Algorithm
from fireline_runtime.secret_box import decode_key
from fireline_runtime.settings import ServiceSettings, TokenSettings, UiClientSettings

_GENERATE_HINT = (
    'generate one with: python -c "import base64, os; '
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)


class Settings(ServiceSettings, TokenSettings, UiClientSettings):
    http_port: int = Field(default=8002, description="HTTP port.")
    signing_key_encryption_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description="Required. Urlsafe base64 of 32 random bytes: the AES-256-GCM key that "
        "encrypts signing keys at rest. Changing it makes the stored signing keys unusable.",
    )
    token_signing_alg: Algorithm = Field(
        default=Algorithm.RS256,
        description="Algorithm of new signing keys: RS256 (RSA 2048), ES256 (P-256) or Ed25519. "
        "RS256 is the one every RFC 9068 resource server must accept (gateways such as Apache "
        "mod_auth_openidc refuse Ed25519; AWS API Gateway JWT authorizers take only RSA); ES256 "
        "signs some 15 times faster, which doubles the exchange's throughput (BENCHMARKS.md). "
        "Changing it on a running deployment is a "
        "rotation: a key of the new algorithm is published ahead and takes over, and no token "
        "is refused.",
    )
    token_ttl_s: int = Field(
        default=900,
        ge=1,
        le=3600,
        description="Lifetime of issued access tokens (seconds), at most 3600: verifiers refuse "
        "longer-lived tokens, which bounds what a leaked signing key can mint.",
    )
    signing_key_rotation_s: float = Field(
        default=30 * 24 * 3600,
        gt=0,
        description="Age of the signing key at which the schedule rotates it.",
    )
    signing_key_publish_ahead_s: float = Field(
        default=120.0,
        ge=0,
        description="How long a new signing key is published in the JWKS before it signs. "
        "Must exceed the key refresh period + verifiers' 30 s refetch floor + the JWKS max-age "
        "an HTTP cache may add (60 s), so no verifier meets a kid it cannot fetch yet.",
    )
    signing_key_refresh_s: float = Field(
        default=5.0,
        gt=0,
        description="How often a replica reloads signing keys from the database and checks the "
        "rotation schedule.",
    )
    jwks_max_age_s: int = Field(
        default=60, ge=0, description="Cache-Control max-age of the JWKS document."
    )
    failed_auth_limit: int = Field(
        default=10,
        ge=1,
        description="Failed client authentications allowed per client id within the window "
        "before a wrong secret is answered 429 (kept per process). A correct secret is never "
        "refused for its client id's failures.",
    )
    failed_auth_address_limit: int = Field(
        default=100,
        ge=1,
        description="Failed client authentications allowed per client address within the "
        "window before every exchange from it is answered 429, a correct secret's too. Well "
        "above the per-client limit: clients behind one proxy share an address. An id that "
        "names no key (yet) counts for neither limit.",
    )
    failed_auth_window_s: float = Field(
        default=60.0, gt=0, description="Sliding window of the failed-authentication limit."
    )
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        description="Reverse proxies in front of auth whose X-Forwarded-For entries are "
        "trusted for the client address used by the failed-authentication limit; 0 trusts none.",
    )
    key_usage_interval_s: float = Field(
        default=60.0,
        ge=0,
        description="At most one KeyUsed event per key per this many seconds.",
    )

    @property
    def ui_client(self) -> UiClient | None:
        """The web UI's backend as a client, if one is configured."""
        secret = self.ui_client_secret
        return None if secret is None else UiClient(self.ui_client_id, secret)

    @field_validator("signing_key_encryption_key")
    @classmethod
    def _encryption_key_is_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            raise ValueError(f"required: the urlsafe base64 of 32 random bytes; {_GENERATE_HINT}")
        try:
            decode_key(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"{exc}; {_GENERATE_HINT}") from None
        return value

    @property
    def encryption_key(self) -> bytes:
        """The decoded AES-256 key."""
        assert self.signing_key_encryption_key is not None  # the validator ensures it
        return decode_key(self.signing_key_encryption_key.get_secret_value())

    @property
    def signing_key_retention(self) -> timedelta:
        """How long a retired key stays published: until the last token it signed has expired.

        A replica may sign with the old key until its next refresh after the successor activated,
        hence the refresh period on top of lifetime and leeway. (Immediate rotations do not wait
        for this: they delete the old keys at once.)
        """
        return timedelta(
            seconds=self.token_ttl_s + self.token_leeway_s + self.signing_key_refresh_s
        )


def settings_errors(exc: ValidationError) -> str:
    """A validation error as one line per setting, naming the environment variable."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]).upper() or "SETTINGS"
        lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)
