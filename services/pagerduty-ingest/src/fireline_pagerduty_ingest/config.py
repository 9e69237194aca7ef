"""Settings of the pagerduty-ingest service (environment variables, case-insensitive)."""

from __future__ import annotations

from pydantic import Field

from fireline_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    fireline_http_port: int = Field(default=8004, description="HTTP port.")
