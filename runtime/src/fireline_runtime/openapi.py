"""OpenAPI that tells the truth about errors: every 4xx and 5xx an operation can answer is declared,
with the ``application/problem+json`` schema the problem handlers (``problems.py``) render.

Routers declare the errors only they know about (a 409 for a taken name, a 404 for an unknown
id). The errors every operation shares come from the runtime itself and are added here, so no
router can forget them:

* 431 from every operation (request headers over the limit, ``request_context.py``);
* 503 from every operation that reads the database (all but the ``ops`` endpoints), with
  ``Retry-After``;
* 400 (text that cannot be stored) and 422 (anything else invalid) from every operation that
  takes parameters or a body;
* 404 from every operation with a path parameter;
* 401 and 403 from every operation that requires a Bearer token.

A status an operation declares with a body of its own (RFC 6749 errors on the OAuth endpoints) is
left as declared. FastAPI's own 422 schema is replaced: the body is a problem, not its default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fireline_runtime.problems import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable and meant for programs.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem."},
        "title": {"type": "string", "description": "Short summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "code": {"type": "string", "description": "Stable machine-readable code."},
        "detail": {"type": "string", "description": "What went wrong with this request."},
        "instance": {"type": "string", "description": "The request path."},
        "errors": {
            "type": "array",
            "description": "Each invalid input, for `validation_error` and `invalid_text`.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}

_DESCRIPTIONS = {
    400: "Malformed request, or text that cannot be stored (`invalid_text`: U+0000, lone "
    "surrogates).",
    401: "Missing, invalid or expired credentials.",
    403: "The credentials do not allow this.",
    404: "Not found.",
    409: "Conflicts with the current state.",
    413: "Body too large.",
    422: "The request is well-formed but not valid (`validation_error`).",
    429: "Too many attempts; see Retry-After.",
    431: "Request headers too large.",
    503: "Temporarily unavailable (e.g. the database is restarting); see Retry-After.",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the given statuses, each a problem."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or _DESCRIPTIONS.get(status, "Error."),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _shared_statuses(operation: dict[str, Any]) -> set[int]:
    statuses = {431}
    if "ops" not in operation.get("tags", ()):
        statuses.add(503)
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses |= {400, 422}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if operation.get("security"):
        statuses |= {401, 403}
    return statuses


def _declare(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(declared | _shared_statuses(operation)):
        existing = responses.get(str(status))
        content = (existing or {}).get("content") or {}
        own_body = any(
            media != PROBLEM_JSON and media_type.get("schema") and status != 422
            for media, media_type in content.items()
        )
        if own_body:
            continue
        # A router's own description is kept; FastAPI's generic 422 one is not.
        description = (existing or {}).get("description") if status != 422 else None
        responses[str(status)] = _problem_response(status, description)


def with_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """``openapi`` with every operation's error responses declared (in place, and returned)."""
    for methods in openapi.get("paths", {}).values():
        for operation in methods.values():
            _declare(operation)
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    # FastAPI's 422 body, now replaced everywhere by the problem.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return openapi


def install_problem_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) declare the errors as above."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    setter: Callable[[], dict[str, Any]] = openapi
    app.openapi = setter  # type: ignore[method-assign]
