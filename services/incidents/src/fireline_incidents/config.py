"""Settings of the incidents service (environment variables, case-insensitive)."""

from __future__ import annotations

from pydantic import Field

from fireline_runtime.settings import ServiceSettings, TokenSettings


class Settings(ServiceSettings, TokenSettings):
    http_port: int = Field(default=8003, description="HTTP port.")
