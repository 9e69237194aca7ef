"""Composition root of the incidents service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_incidents.config import Settings
from fireline_runtime.migrations import load
from fireline_runtime.service import ServiceRuntime

SERVICE = "incidents"


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=load(SERVICE, "fireline_incidents.migrations"),
    )
    return runtime.build_app(title="Fireline incidents")
