"""Composition root of the auth service."""

from __future__ import annotations

from fastapi import FastAPI

from fireline_auth.config import Settings
from fireline_runtime.migrations import load
from fireline_runtime.service import ServiceRuntime

SERVICE = "auth"


def create_app(settings: Settings) -> FastAPI:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=settings,
        migrations=load(SERVICE, "fireline_auth.migrations"),
    )
    return runtime.build_app(title="Fireline auth")
