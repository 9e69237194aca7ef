"""Run a service's app under uvicorn with JSON logs and a graceful SIGTERM.

The server settings live in :func:`server_config` alone, so the benchmark's bare-app ceiling
(``bench/ceiling.py``) runs on exactly the settings the services run on.
"""

from __future__ import annotations

from typing import Any

import uvicorn

from fireline_runtime.observability import configure_logging
from fireline_runtime.settings import ServiceSettings

# Chosen by measurement (BENCHMARKS.md): uvloop and httptools are C implementations of the event
# loop and the HTTP/1.1 parser. Named explicitly so a missing wheel fails at start-up instead of
# silently falling back to the pure-Python h11 parser at a fraction of the throughput.
LOOP = "uvloop"
HTTP = "httptools"


def server_config(app: Any, *, host: str, port: int, grace_s: float) -> uvicorn.Config:
    """One process, one event loop: scale out with replicas, which share nothing but databases."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=LOOP,
        http=HTTP,
        log_config=None,
        access_log=False,  # RequestContextMiddleware writes one line without query strings
        proxy_headers=False,
        timeout_graceful_shutdown=int(grace_s),
        lifespan="on",
    )


def serve(app: Any, settings: ServiceSettings, service: str) -> None:
    configure_logging(service, settings.fireline_log_level)
    config = server_config(
        app,
        host=settings.fireline_http_host,
        port=settings.fireline_http_port,
        grace_s=settings.fireline_shutdown_grace_s,
    )
    uvicorn.Server(config).run()
