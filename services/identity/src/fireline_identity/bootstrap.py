"""Composition root of the identity service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_identity.config import Settings
from fireline_runtime.migrations import load
from fireline_runtime.service import ServiceRuntime

SERVICE = "identity"


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=load(SERVICE, "fireline_identity.migrations"),
    )
    return runtime.build_app(title="Fireline identity")
