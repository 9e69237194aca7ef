"""The Key Management web UI, served under /ui/.

Static pages and small ES-module scripts that talk only to identity's JSON API (same origin,
session cookie), so every rule lives in one place: the API. This router only hands out files.

Every response of this router carries a strict Content-Security-Policy (no inline script or
style, nothing from other origins, no framing) and the other browser hardening headers. They are
added by the route class below rather than by app-wide middleware, so the JSON API's responses are
left exactly as the API router shapes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # For browsers that predate CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Pages can show a freshly created key; never let a cache keep them.
_PAGE_CACHE = "no-store"
# Assets may be cached but are revalidated, so an upgrade is picked up at once.
_ASSET_CACHE = "no-cache"

_ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only plain file names from the ui folder are served: no sub-paths, no dot files, no HTML.
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(?:js|css|svg)$")

_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Not found - Fireline</title>"
    '<link rel="stylesheet" href="/ui/assets/styles.css"></head>'
    '<body class="centered"><main class="card"><h1>Page not found</h1>'
    '<p><a href="/ui/">Go to Fireline</a></p></main></body></html>'
)


def _ui_dir() -> Traversable:
    return files("fireline_identity").joinpath("ui")


class _HardenedRoute(APIRoute):
    """A route whose every response carries the UI's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def hardened(request: Request) -> Response:
            response = await handler(request)
            response.headers.update(SECURITY_HEADERS)
            return response

        return hardened


router = APIRouter(prefix="/ui", route_class=_HardenedRoute, include_in_schema=False)


def _page(name: str) -> HTMLResponse:
    body = _ui_dir().joinpath(name).read_text(encoding="utf-8")
    return HTMLResponse(body, headers={"Cache-Control": _PAGE_CACHE})


@router.api_route("", methods=["GET", "HEAD"])
@router.api_route("/", methods=["GET", "HEAD"])
async def ui_root() -> RedirectResponse:
    # The app page asks GET /v1/me and sends a visitor without a session on to the login page,
    # so the server needs no knowledge of sessions here.
    return RedirectResponse("/ui/app", status_code=303, headers={"Cache-Control": _PAGE_CACHE})


@router.api_route("/login", methods=["GET", "HEAD"])
async def login_page() -> HTMLResponse:
    return _page("login.html")


@router.api_route("/app", methods=["GET", "HEAD"])
async def app_page() -> HTMLResponse:
    return _page("app.html")


@router.api_route("/assets/{name}", methods=["GET", "HEAD"])
async def asset(name: str) -> Response:
    if not _ASSET_NAME.fullmatch(name):
        return _not_found()
    path = _ui_dir().joinpath(name)
    if not path.is_file():
        return _not_found()
    media_type = _ASSET_TYPES[name[name.rindex(".") :]]
    return Response(
        path.read_bytes(), media_type=media_type, headers={"Cache-Control": _ASSET_CACHE}
    )


@router.api_route("/{rest:path}", methods=["GET", "HEAD"])
async def not_found(rest: str) -> HTMLResponse:
    # Without this, unknown /ui/ paths would get the API's JSON 404 without the UI headers.
    del rest
    return _not_found()


def _not_found() -> HTMLResponse:
    return HTMLResponse(_NOT_FOUND_PAGE, status_code=404, headers={"Cache-Control": _PAGE_CACHE})
