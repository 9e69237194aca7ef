"""The one mapping from the incidents domain's errors to problem details."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fireline_incidents.domain.errors import (
    IncidentNotFound,
    IncidentsError,
    InvalidCursor,
    InvalidIncident,
    UnknownCreator,
)
from fireline_runtime.problems import Problem, problem_response

_PROBLEMS: dict[type[IncidentsError], tuple[int, str, str]] = {
    IncidentNotFound: (404, "not_found", "Incident not found"),
    UnknownCreator: (422, "unknown_creator", "Unknown creator"),
    InvalidIncident: (422, "invalid_incident", "Incident is not valid"),
    InvalidCursor: (400, "invalid_cursor", "Invalid cursor"),
}


def install_error_handler(app: FastAPI) -> None:
    """Render every :class:`IncidentsError` as ``application/problem+json``."""

    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, IncidentsError)
        status, code, title = _PROBLEMS.get(type(exc), (400, "bad_request", "Bad request"))
        problem = Problem(str(exc), status=status, code=code, title=title)
        return problem_response(problem, request.url.path)

    app.add_exception_handler(IncidentsError, on_domain_error)
