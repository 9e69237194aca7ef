"""Plain ASGI endpoints answered ahead of FastAPI's routing, for the few routes hot enough to
need it.

FastAPI's routing and request handling cost more CPU than a PagerDuty webhook's own work
(BENCHMARKS.md, alert storms). A route listed here keeps its ``APIRoute`` declaration, which is
what the OpenAPI document describes and what answers the path's other methods (405); its own
method is answered by a plain ASGI callable before the router runs.

The dispatcher sits inside ``RequestContextMiddleware``, so such a request keeps everything an
operator relies on: the correlation id, the ``fireline_http_*`` series and the outcome counter
(labelled by the declared route's template, put in ``scope["route"]`` as the router would), the
access-log line and, while tracing is on, the request's span named by its route. What the
endpoint raises is answered by the app's own exception handlers, the ones a routed request
meets, so its error bodies are the same problem+json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fireline_runtime import tracing

JSON_HEADERS = (b"content-type", b"application/json")


@dataclass(frozen=True)
class RawEndpoint:
    """``app`` answers ``route``'s method at its path; ``route`` stays declared for the document."""

    route: APIRoute
    app: ASGIApp


def declared_route(routes: Sequence[Any], path: str) -> APIRoute:
    """The ``APIRoute`` declared at ``path`` among ``routes`` (a router's)."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path == path:
            return route
    raise LookupError(f"no route is declared at {path}")


class AheadOfRouting:
    """ASGI middleware: a request for a raw endpoint's route goes to it, every other request to
    the app."""

    def __init__(self, app: ASGIApp, endpoints: Sequence[RawEndpoint]) -> None:
        self.app = app
        self.endpoints = [(e.route, frozenset(e.route.methods or ()), e.app) for e in endpoints]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Matched as the router matches: behind a proxy that mounts the service under a
            # prefix (root_path), the request's path carries it and the routes do not. Starlette's
            # own helper (pinned in requirements.txt), so the two never disagree on a path.
            path = get_route_path(scope)
            for route, methods, endpoint in self.endpoints:
                if scope["method"] in methods and (match := route.path_regex.match(path)):
                    scope["route"] = route
                    scope["path_params"] = match.groupdict()
                    tracing.name_server_span(scope["method"], route.path)
                    try:
                        await endpoint(scope, receive, send)
                    except Exception as exc:
                        await _handled(exc, scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _handled(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer ``exc`` with the app's handler for it, as Starlette's ExceptionMiddleware would;
    re-raised (a 500 from the server error middleware) when none is registered."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if (handler := handlers.get(cls)) is not None:
            response = await handler(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
    raise exc


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; ClientDisconnect if the client goes away first (the
    request middleware logs that as 499), as Starlette's ``Request.stream`` does."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if chunk := message.get("body", b""):
            yield chunk
        if not message.get("more_body", False):
            return


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (``name`` lower-case), decoded as Starlette's
    ``Headers.get`` does."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def send_json(send: Send, status: int, body: bytes) -> None:
    """Answer with ``body``, already JSON."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
