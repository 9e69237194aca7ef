"""Every request's context: its correlation id in and out, its metrics, one access-log line.

Public surface: :class:`RequestContextMiddleware` (the app factory installs it on every service)
and :data:`MAX_HEADER_BYTES`.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fireline_runtime import correlation, tracing
from fireline_runtime.observability import Metrics, recorded_outcome
from fireline_runtime.problems import Problem, problem_response

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths asked every few seconds by orchestrators and scrapers: no access-log line, no span."""


def _default_outcome(status: int) -> str:
    return "ok" if status < 400 else "error" if status >= 500 else f"http_{status}"


MAX_HEADER_BYTES = 16 * 1024
"""All request headers together (names and values); twice what a browser with cookies sends."""


class RequestContextMiddleware:
    """Correlation id in and out, request metrics, one access-log line per request.

    Pure ASGI (not BaseHTTPMiddleware) so it adds no task switch per request. The access log has
    the path but never the query string or headers: those may carry credentials.
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, outcomes: dict[str, Counter] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        # The runtime's own dict, not a copy: routes may be registered until the first request.
        self.outcomes = outcomes if outcomes is not None else {}
        self.log = logging.getLogger("fireline.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        header_bytes = 0
        for name, value in scope.get("headers", ()):
            header_bytes += len(name) + len(value)
            if name == b"x-correlation-id":
                incoming = value.decode("latin-1")
        # With tracing on, a request that brings no id of its own gets its trace's id, so the
        # correlation id in every log line and event is the id to look the trace up by.
        cid = correlation.accept(incoming or tracing.current_trace_id())
        correlation.set_(cid)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", cid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            if header_bytes > MAX_HEADER_BYTES:
                # The HTTP parser sets no limit of its own: without this, megabytes of headers
                # were read, handed to every dependency and answered 200.
                too_large = Problem(
                    f"The request headers exceed {MAX_HEADER_BYTES // 1024} KB.",
                    status=431,
                    code="headers_too_large",
                    title="Request headers too large",
                )
                await problem_response(too_large, scope.get("path"))(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except ClientDisconnect:
            # The client went away while its body was being read (a load generator stopping, a
            # webhook sender timing out): nobody is left to answer, and it is not a server error
            # worth a traceback. 499 is the access log's name for it, as in nginx.
            status = 499
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics = self.metrics
            metrics.labelled(metrics.http_requests, method, template, str(status)).inc()
            metrics.labelled(metrics.http_seconds, method, template).observe(elapsed)
            if (counter := self.outcomes.get(template)) is not None:
                outcome = recorded_outcome(scope) or _default_outcome(status)
                metrics.labelled(counter, outcome, str(status)).inc()
            if template not in PROBES:
                self.log.info(
                    "request",
                    extra={
                        "method": method,
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                    },
                )
