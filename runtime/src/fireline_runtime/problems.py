"""RFC 9457 problem details: the one error shape of every Fireline REST endpoint.

Domain code raises its own errors; each service maps them to problems in one :class:`ErrorMap`
(``entrypoints/errors.py``), and the handlers installed here render them. Handlers never build
error responses by hand, so every 4xx carries the same fields and a stable ``code``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from fireline_contracts.text import normalise_strings
from fireline_runtime.db import TRANSIENT_DB_ERRORS
from fireline_runtime.input_text import UNSTORABLE_TEXT
from fireline_runtime.observability import record_outcome

PROBLEM_JSON = "application/problem+json"

DATABASE_RETRY_AFTER_S = 2
"""``Retry-After`` of a 503 for an unreachable database: about what a PostgreSQL restart takes."""

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error a client can act on; rendered as ``application/problem+json``."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"https://fireline.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


class NotFound(Problem):
    status, code, title = 404, "not_found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Forbidden"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Unauthorized"


class ServiceUnavailable(Problem):
    status, code, title = 503, "unavailable", "Service unavailable"


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    return JSONResponse(
        # A detail or error location may quote the request (a path, a field name), and a lone
        # surrogate in it would make the answer itself unencodable: a 500 in place of the 4xx.
        normalise_strings(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


E = TypeVar("E", bound=Exception)


@dataclass(frozen=True)
class _Rule:
    status: int
    code: Callable[[Any], str]
    title: str
    detail: Callable[[Any], str | None]
    headers: Callable[[Any], Mapping[str, str]]
    members: Callable[[Any], Mapping[str, Any]]
    """Extension members of the problem body (RFC 9457 §3.2)."""

    def problem(self, exc: Exception) -> Problem:
        return Problem(
            self.detail(exc) or self.title,
            status=self.status,
            code=self.code(exc),
            title=self.title,
            headers=self.headers(exc),
            extra=self.members(exc),
        )


def _message(exc: Exception) -> str | None:
    return str(exc) or None


def _nothing(_: Exception) -> Mapping[str, Any]:
    return {}


def _constant(value: str) -> Callable[[Exception], str]:
    def same(_: Exception) -> str:
        return value

    return same


class ErrorMap:
    """A service's domain errors and the problem each is answered with: the one mapping style.

    Rules are looked up along the error's class hierarchy, so a subclass without a rule of its
    own is answered like its nearest mapped parent; map the base class too, or an unmapped error
    gets a bare 400. The detail is the error's message (the title when it has none): a rule whose
    message could help an attacker gives a fixed ``detail`` instead.
    """

    def __init__(self, *bases: type[Exception]) -> None:
        self._bases = bases
        self._rules: dict[type[Exception], _Rule] = {}
        self._fallback = _Rule(
            400, _constant("bad_request"), "Bad request", _constant(""), _nothing, _nothing
        )

    def add(
        self,
        error: type[E],
        status: int,
        code: str | Callable[[E], str],
        title: str,
        *,
        detail: str | Callable[[E], str | None] = _message,
        headers: Callable[[E], Mapping[str, str]] = _nothing,
        extra: Callable[[E], Mapping[str, Any]] = _nothing,
    ) -> Self:
        """Answer ``error`` (and its unmapped subclasses) with this problem; chainable."""
        self._rules[error] = _Rule(
            status,
            code if callable(code) else _constant(code),
            title,
            detail if callable(detail) else _constant(detail),
            headers,
            extra,
        )
        return self

    def to_problem(self, exc: Exception) -> Problem:
        for cls in type(exc).__mro__:
            if (rule := self._rules.get(cls)) is not None:
                return rule.problem(exc)
        return self._fallback.problem(exc)

    def install(
        self,
        app: FastAPI,
        render: Callable[[Problem, Request], Response] | None = None,
    ) -> None:
        """Handle the mapped bases on ``app``, rendered as problem+json unless ``render`` says."""

        async def on_domain_error(request: Request, exc: Exception) -> Response:
            problem = self.to_problem(exc)
            record_outcome(request, problem.code)
            if render is not None:
                return render(problem, request)
            return problem_response(problem, request.url.path)

        for base in self._bases:
            app.add_exception_handler(base, on_domain_error)


def install_problem_handlers(app: FastAPI) -> None:
    """Map Problem, request-validation and routing errors to problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        record_outcome(request, exc.code)
        return problem_response(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()
        ]
        # Text that cannot be stored (input_text.py) is malformed rather than merely invalid:
        # 400, with its own code, so a client can tell it from a rule it broke.
        unstorable = any(err["type"] == UNSTORABLE_TEXT for err in errors)
        problem = Problem(
            _summarise(errors),
            status=400 if unstorable else 422,
            code="invalid_text" if unstorable else "validation_error",
            title="Request is not valid",
            extra={"errors": errors},
        )
        record_outcome(request, problem.code)
        return problem_response(problem, request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        problem = Problem(str(exc.detail), status=exc.status_code, code=code, title=str(exc.detail))
        problem.headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route matching the path; FastAPI
            # declares one route per method, so that was one method of several (RFC 9110 §15.5.6
            # wants them all).
            problem.headers["Allow"] = ", ".join(_allowed_methods(request))
        record_outcome(request, problem.code)
        return problem_response(problem, request.url.path)

    async def on_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Every use case reads or writes PostgreSQL; while it restarts, the answer is "come back
        # shortly", never a 500 (which the server follows by dropping the connection).
        log.warning(
            "database unavailable; answering 503",
            extra={"path": request.url.path, "error": type(exc).__name__},
        )
        problem = ServiceUnavailable(
            "The database is unavailable; retry shortly.",
            code="database_unavailable",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
        record_outcome(request, problem.code)
        return problem_response(problem, request.url.path)

    app.add_exception_handler(Problem, on_problem)
    for error in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(error, on_database_unavailable)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at the request's path.

    Each route is asked whether it would take the request under each method: FastAPI keeps an
    included router as one route that looks inside itself (and has no ``methods`` of its own),
    so reading the routes' ``methods`` left every API route of the services out and the Allow
    header empty."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def _summarise(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:3]:
        field = ".".join(p for p in err["loc"] if p not in ("body", "query", "path"))
        parts.append(f"{field or 'body'}: {err['msg']}")
    return "; ".join(parts)
