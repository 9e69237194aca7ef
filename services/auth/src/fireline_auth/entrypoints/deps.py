"""Request dependencies of the auth endpoints, as named types."""

from __future__ import annotations

import urllib.parse
from typing import Annotated

from fastapi import Depends, Header, Request

from fireline_auth.domain.errors import InvalidRequest
from fireline_auth.service_layer.context import AuthContext
from fireline_runtime.client_address import client_address
from fireline_runtime.tokens import TokenVerifier

_FORM_TYPE = "application/x-www-form-urlencoded"
# OAuth requests are a handful of short parameters; anything bigger is not one.
_MAX_FORM_BYTES = 16 * 1024
_MAX_FORM_FIELDS = 32


# Dependencies are `async def` even when they never await: FastAPI runs a plain `def` one in a
# worker thread, a thread hop on every request (measured in BENCHMARKS.md).
async def get_context(request: Request) -> AuthContext:
    ctx: AuthContext = request.app.state.context
    return ctx


async def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.auth_verifier
    return verifier


async def _client_address(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    ctx: AuthContext = request.app.state.context
    hops = ctx.trusted_proxy_hops
    return client_address(peer, request.headers.get("x-forwarded-for"), hops)


async def _oauth_form(request: Request) -> dict[str, str]:
    """The urlencoded body as a dict; RFC 6749 §3.2 forbids repeating a parameter."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM_TYPE:
        raise InvalidRequest(f"The request body must be {_FORM_TYPE}.")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > _MAX_FORM_BYTES):
        raise InvalidRequest("The request body is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise InvalidRequest("The request body is too large.")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The request body is not a valid form.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"The {name} parameter must not be repeated.")
        form[name] = value
    return form


Context = Annotated[AuthContext, Depends(get_context)]
LocalVerifier = Annotated[TokenVerifier, Depends(_verifier)]
ClientAddress = Annotated[str, Depends(_client_address)]
OAuthForm = Annotated[dict[str, str], Depends(_oauth_form)]
Authorization = Annotated[
    str | None,
    Header(description="HTTP Basic client credentials (client_id = key id, secret = the key)."),
]
