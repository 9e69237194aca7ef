"""Refuses state-changing requests sent by a page of another origin (CSRF defence in depth)."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from fireline_identity.domain.origins import is_foreign
from fireline_runtime.problems import Problem, problem_response

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ForeignOriginGuard:
    """Pure ASGI middleware: 403 ``foreign_origin`` for POST/PUT/PATCH/DELETE from elsewhere.

    Browsers send ``Origin`` on every cross-origin request and on same-origin non-GET ones, so an
    absent header means a non-browser client (CLI, curl), which carries no ambient cookie risk.
    ``Sec-Fetch-Site: cross-site`` without ``Origin`` is refused too.
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method", "GET") not in SAFE_METHODS:
            origin: str | None = None
            fetch_site: str | None = None
            for name, value in scope.get("headers", ()):
                if name == b"origin":
                    origin = value.decode("latin-1")
                elif name == b"sec-fetch-site":
                    fetch_site = value.decode("latin-1").lower()
            if is_foreign(origin, self.allowed) or (origin is None and fetch_site == "cross-site"):
                log.warning(
                    "state-changing request from a foreign origin refused",
                    extra={"method": scope.get("method"), "path": scope.get("path")},
                )
                problem = Problem(
                    "Requests that change state must come from this service's own origin.",
                    status=403,
                    code="foreign_origin",
                    title="Foreign origin",
                )
                await problem_response(problem, scope.get("path"))(scope, receive, send)
                return
        await self.app(scope, receive, send)
