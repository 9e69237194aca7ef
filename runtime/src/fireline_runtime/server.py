"""Run a service's app under uvicorn with JSON logs and a graceful SIGTERM."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from fireline_runtime.observability import configure_logging
from fireline_runtime.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings, service: str) -> None:
    configure_logging(service, settings.fireline_log_level)
    config = uvicorn.Config(
        app,
        host=settings.fireline_http_host,
        port=settings.fireline_http_port,
        log_config=None,
        access_log=False,  # RequestContextMiddleware writes one line without query strings
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.fireline_shutdown_grace_s),
        lifespan="on",
    )
    uvicorn.Server(config).run()
