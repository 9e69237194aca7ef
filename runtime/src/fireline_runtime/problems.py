"""RFC 9457 problem details: the one error shape of every Fireline REST endpoint.

Domain code raises :class:`Problem` subclasses (or the service maps its own domain errors to one);
a single exception handler, installed by :func:`install_problem_handlers`, renders them. Handlers
never build error responses by hand, so every 4xx carries the same fields and a stable ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fireline_runtime.observability import record_outcome

PROBLEM_JSON = "application/problem+json"


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
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


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
        problem = Problem(
            _summarise(errors),
            status=422,
            code="validation_error",
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
        record_outcome(request, problem.code)
        return problem_response(problem, request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _summarise(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:3]:
        field = ".".join(p for p in err["loc"] if p not in ("body", "query", "path"))
        parts.append(f"{field or 'body'}: {err['msg']}")
    return "; ".join(parts)
