"""Settings that protect the service: the PagerDuty host allow-list and delivery retention."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from fireline_pagerduty_ingest.config import Settings

KEY = base64.urlsafe_b64encode(b"0" * 32).decode()


def _settings(**overrides: Any) -> Settings:
    return Settings(
        database_url="postgresql://ingest@localhost/ingest",
        ingest_encryption_key=KEY,
        **overrides,
    )


def test_by_default_only_pagerdutys_api_hosts_are_allowed() -> None:
    settings = _settings()

    assert settings.pagerduty_allowed_hosts == {"api.pagerduty.com", "api.eu.pagerduty.com"}
    assert settings.delivery_retention_s == 7 * 24 * 3600


def test_the_allow_list_is_read_from_a_comma_separated_list() -> None:
    settings = _settings(pagerduty_allowed_hosts_text="api.pagerduty.com, 127.0.0.1 ,")

    assert settings.pagerduty_allowed_hosts == {"api.pagerduty.com", "127.0.0.1"}


def test_a_default_api_url_the_allow_list_refuses_is_a_start_up_error() -> None:
    with pytest.raises(ValidationError, match="not allowed"):
        _settings(pagerduty_allowed_hosts_text="api.eu.pagerduty.com")
    with pytest.raises(ValidationError, match="https"):
        _settings(pagerduty_api_url="http://api.pagerduty.com")


def test_retention_shorter_than_pagerdutys_48_hours_of_retries_is_refused() -> None:
    assert _settings(delivery_retention_s=48 * 3600).delivery_retention_s
    with pytest.raises(ValidationError, match="delivery_retention_s"):
        _settings(delivery_retention_s=48 * 3600 - 1)
