"""Composition root of the pagerduty-ingest service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_pagerduty_ingest.config import Settings
from fireline_runtime.migrations import load
from fireline_runtime.service import ServiceRuntime

SERVICE = "pagerduty-ingest"


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=load(SERVICE, "fireline_pagerduty_ingest.migrations"),
    )
    return runtime.build_app(title="Fireline pagerduty-ingest")
