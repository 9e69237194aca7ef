"""Settings of the pagerduty-ingest service (environment variables, case-insensitive)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from fireline_pagerduty_ingest.domain.integration import api_url_refusal, parse_allowed_hosts
from fireline_pagerduty_ingest.domain.sync import parse_schedule
from fireline_runtime.secret_box import decode_key
from fireline_runtime.settings import ServiceSettings, TokenSettings


class Settings(ServiceSettings, TokenSettings):
    http_port: int = Field(default=8004, description="HTTP port.")
    outbox_linger_s: float = Field(
        default=0.02,
        ge=0,
        le=1.0,
        description="While alerts arrive faster than the relay's passes, the next pass starts no "
        "sooner than this after the last one began (three times this after a pass of 16 or "
        "more). The receiver publishes most alerts itself, a few per INSERT; without this a "
        "burst left in passes of a few rows, each paid for again by every consumer downstream "
        "(BENCHMARKS.md).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Public base URL of this service; webhook URLs shown to users start with it.",
    )
    ingest_encryption_key: SecretStr = Field(
        description="URL-safe base64 of 32 random bytes: the AES-256-GCM key that encrypts "
        "signing secrets and PagerDuty API tokens at rest. Required; no default on purpose.",
    )
    pagerduty_api_url: str = Field(
        default="https://api.pagerduty.com",
        description="PagerDuty REST API base URL for integrations that do not set their own.",
    )
    pagerduty_allowed_hosts_text: str = Field(
        validation_alias="FIRELINE_PAGERDUTY_ALLOWED_HOSTS",
        default="api.pagerduty.com,api.eu.pagerduty.com",
        description="Comma-separated host names an integration's PagerDuty API URL may point at "
        "(https only; plain http only for 127.0.0.1, localhost or ::1 when listed). Enrichment "
        "sends the integration's API token to that URL from inside your network, so without "
        "this list anyone allowed to edit an integration could make the service call internal "
        "addresses or hand the token to a host of their choosing (SSRF). Integrations whose "
        "stored URL is no longer allowed are enriched with no emails.",
    )
    pagerduty_call_timeout_s: float = Field(
        default=2.0, gt=0, le=2.0, description="Timeout of one PagerDuty REST call."
    )
    enrichment_budget_s: float = Field(
        default=5.0, gt=0, le=5.0, description="Time all PagerDuty lookups of one delivery get."
    )
    email_cache_ttl_s: float = Field(
        default=600.0, ge=0, description="How long a PagerDuty user's email is cached."
    )
    oncall_cache_ttl_s: float = Field(
        default=60.0, ge=0, description="How long an escalation policy's on-call list is cached."
    )
    ingest_worker_batch: int = Field(
        default=64,
        ge=1,
        le=500,
        description="Deliveries claimed and enriched concurrently per worker pass. A pass lasts "
        "at most the enrichment budget; larger passes cost fewer statements and Kafka requests "
        "per delivery in a storm (BENCHMARKS.md), and more concurrent PagerDuty calls.",
    )
    ingest_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a worker holds a delivery; after a crash it is retried this late.",
    )
    ingest_poll_interval_s: float = Field(
        default=1.0, gt=0, description="Worker poll period when no delivery wakes it."
    )
    ingest_max_attempts: int = Field(
        default=10,
        ge=1,
        description="Attempts before a delivery that cannot be published is marked failed.",
    )
    pagerduty_sync_retry_schedule_s: str = Field(
        default="5,30,120,600,1800",
        description="Fireline → PagerDuty sync: delays in seconds before each retry of a call "
        "PagerDuty answered with a 5xx or not at all (jittered ±20%); after the last one the "
        "change is shown as failed. A 429 waits for its Retry-After instead and uses none.",
    )
    pagerduty_sync_poll_interval_s: float = Field(
        default=1.0, gt=0, description="Sync dispatcher poll period when nothing wakes it."
    )
    pagerduty_sync_batch: int = Field(
        default=16, ge=1, le=200, description="Sync requests claimed and sent per pass."
    )

    delivery_retention_s: float = Field(
        default=7 * 24 * 3600.0,
        ge=48 * 3600.0,
        description="How long finished deliveries (published, ignored or failed, raw bodies "
        "included) are kept before they are deleted; pending ones are never deleted. At least "
        "48 h: PagerDuty retries a delivery for up to 48 hours, and the stored delivery is what "
        "makes a retry a duplicate; a shorter retention would publish late retries again.",
    )

    @property
    def pagerduty_allowed_hosts(self) -> frozenset[str]:
        """``fireline_pagerduty_allowed_hosts`` as a set of lower-case host names."""
        return parse_allowed_hosts(self.pagerduty_allowed_hosts_text)

    @field_validator("pagerduty_sync_retry_schedule_s")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("ingest_encryption_key")
    @classmethod
    def _key_decodes(cls, value: SecretStr) -> SecretStr:
        # Fail at start-up, not on the first integration created.
        decode_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _default_api_url_is_allowed(self) -> Settings:
        # Integrations without a URL of their own (or reset to the default) use this one; an
        # allow-list that refuses it would break them all, so it is refused at start-up.
        refusal = api_url_refusal(
            self.pagerduty_api_url.strip().rstrip("/"), self.pagerduty_allowed_hosts
        )
        if refusal is not None:
            raise ValueError(
                "fireline_pagerduty_api_url is not allowed by pagerduty_allowed_hosts_text: "
                + refusal
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_enrichment(self) -> Settings:
        if self.ingest_lease_s <= self.enrichment_budget_s + 1.0:
            # A lease shorter than the work lets another worker take a delivery over mid-flight;
            # that is safe (the claim is checked before publishing) but wastes PagerDuty calls.
            raise ValueError("fireline_ingest_lease_s must exceed enrichment_budget_s by over 1 s")
        return self
