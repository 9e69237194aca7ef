"""Settings of the notifications service (environment variables, case-insensitive)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from fireline_notifications.domain.addresses import AllowList
from fireline_notifications.domain.delivery import parse_schedule
from fireline_runtime.secret_box import decode_key
from fireline_runtime.settings import ServiceSettings, TokenSettings


class Settings(ServiceSettings, TokenSettings):
    http_port: int = Field(default=8005, description="HTTP port.")
    notifications_encryption_key: SecretStr = Field(
        description="URL-safe base64 of 32 random bytes: the AES-256-GCM key that encrypts "
        "endpoint signing secrets and URLs (Slack's carry a token) at rest. Required; no default "
        "on purpose.",
    )
    notifications_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names or CIDRs that endpoint URLs may name although "
        "they are private, loopback or link-local (which are refused otherwise, at creation and "
        "again on the resolved address at every send); only these may also use plain http. "
        "Empty by default.",
    )
    notifications_retry_schedule_s: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        description="Comma-separated delays in seconds before each retry of a failed delivery "
        "(each with up to 20% jitter); after the last one the delivery is failed.",
    )
    notifications_timeout_s: float = Field(
        default=15.0, gt=0, le=15.0, description="How long an endpoint has to answer 2xx."
    )
    notifications_disable_after_s: float = Field(
        default=5 * 24 * 3600.0,
        gt=0,
        description="An endpoint whose every delivery failed for this long is disabled.",
    )
    notifications_per_endpoint_concurrency: int = Field(
        default=8, ge=1, le=64, description="Deliveries in flight to one endpoint at most."
    )
    notifications_max_in_flight: int = Field(
        default=200, ge=1, description="Deliveries in flight in this process at most."
    )
    notifications_lease_s: float = Field(
        default=60.0,
        gt=15.0,
        description="How long a process holds a delivery it sends; after a crash the delivery "
        "is sent again this late, with the same webhook-id.",
    )
    notifications_poll_interval_s: float = Field(
        default=1.0, gt=0, description="Dispatcher poll period when nothing wakes it."
    )
    notifications_retention_s: float = Field(
        default=30 * 24 * 3600.0,
        gt=0,
        description="How long finished deliveries and their attempts are kept in the log.",
    )
    incidents_ui_url: str = Field(
        default="http://127.0.0.1:8003/v1/incidents",
        description="Base of the incident links in Slack messages; the incident id is appended.",
    )

    @field_validator("notifications_encryption_key")
    @classmethod
    def _key_decodes(cls, value: SecretStr) -> SecretStr:
        decode_key(value.get_secret_value())
        return value

    @field_validator("notifications_allowed_hosts")
    @classmethod
    def _allow_list_parses(cls, value: str) -> str:
        AllowList.parse(value)
        return value

    @field_validator("notifications_retry_schedule_s")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @property
    def allow_list(self) -> AllowList:
        return AllowList.parse(self.notifications_allowed_hosts)

    @property
    def retry_schedule(self) -> tuple[float, ...]:
        return parse_schedule(self.notifications_retry_schedule_s)
