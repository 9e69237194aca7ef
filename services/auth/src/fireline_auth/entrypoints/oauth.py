"""OAuth endpoints: token exchange (RFC 6749 §4.4), the Blameless-style exchange, introspection.

Handlers only translate HTTP to use-case calls and back; errors are domain exceptions rendered by
:mod:`fireline_auth.entrypoints.errors`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from fireline_auth.domain.client_auth import parse_bare_key, parse_client_credentials
from fireline_auth.domain.people import JWT_BEARER
from fireline_auth.domain.tokens import IssuedToken
from fireline_auth.entrypoints.deps import (
    Authorization,
    ClientAddress,
    Context,
    LocalVerifier,
    OAuthForm,
)
from fireline_auth.entrypoints.errors import NO_STORE
from fireline_auth.service_layer import exchange, introspection

router = APIRouter(tags=["oauth"])


def _form_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI for a urlencoded body the handler parses itself (to answer in RFC 6749 shape)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_CLIENT_FIELDS = {
    "client_id": {"type": "string", "description": "Key id (client_secret_post only)."},
    "client_secret": {"type": "string", "description": "The API key (client_secret_post only)."},
}
_OAUTH_ERROR = {
    "type": "object",
    "description": "RFC 6749 section 5.2 error response.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "e.g. `invalid_client`."},
        "error_description": {"type": "string"},
    },
}
_OAUTH_BODY = {"application/json": {"schema": _OAUTH_ERROR}}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "invalid_request, unsupported_grant_type or invalid_scope",
        "content": _OAUTH_BODY,
    },
    401: {"description": "invalid_client", "content": _OAUTH_BODY},
    429: {
        "description": "Too many failed attempts; see Retry-After",
        "content": _OAUTH_BODY,
        "headers": _RETRY_AFTER,
    },
    503: {
        # RFC 6749's shape when no signing key is usable; a problem when the database is away.
        "description": "Temporarily unavailable; see Retry-After",
        "content": {
            **_OAUTH_BODY,
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}},
        },
        "headers": _RETRY_AFTER,
    },
}


def _token_response(issued: IssuedToken) -> JSONResponse:
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers=NO_STORE,
    )


@router.post(
    "/oauth/token",
    summary="Exchange an API key for an access token (client credentials grant), or a person "
    "assertion of the web UI's backend (RFC 7523 JWT bearer grant)",
    openapi_extra=_form_body(
        {
            "grant_type": {"type": "string", "enum": ["client_credentials", JWT_BEARER]},
            "assertion": {
                "type": "string",
                "description": "JWT bearer grant only: the UI backend's assertion of a person.",
            },
            "scope": {"type": "string", "description": "Space-separated subset of the key's."},
            **_CLIENT_FIELDS,
        },
        ["grant_type"],
    ),
    responses=_OAUTH_ERRORS,
)
async def token(
    ctx: Context, form: OAuthForm, address: ClientAddress, authorization: Authorization = None
) -> JSONResponse:
    if form.get("grant_type") == JWT_BEARER:
        # The UI's backend proves itself with the assertion's MAC, not with client credentials.
        return _token_response(
            exchange.exchange_person_assertion(ctx=ctx, assertion=form.get("assertion"))
        )
    credentials = parse_client_credentials(authorization=authorization, form=form)
    issued = await exchange.exchange_client_credentials(
        ctx=ctx,
        grant_type=form.get("grant_type"),
        credentials=credentials,
        scope=form.get("scope"),
        client_address=address,
    )
    return _token_response(issued)


@router.post(
    "/api/v2/identity/token",
    summary="Blameless-compatible exchange: `Authorization: <key>` (or `Bearer <key>`)",
    responses=_OAUTH_ERRORS,
)
async def blameless_token(
    ctx: Context,
    address: ClientAddress,
    authorization: Annotated[
        str | None, Header(description="The API key, optionally prefixed with `Bearer `.")
    ] = None,
) -> JSONResponse:
    key = parse_bare_key(authorization)
    issued = await exchange.exchange_bare_key(ctx=ctx, key=key, client_address=address)
    return _token_response(issued)


@router.post(
    "/oauth/introspect",
    summary="Token introspection (RFC 7662); the caller authenticates with an API key",
    openapi_extra=_form_body(
        {
            "token": {"type": "string"},
            "token_type_hint": {"type": "string"},
            **_CLIENT_FIELDS,
        },
        ["token"],
    ),
    responses=_OAUTH_ERRORS,
)
async def introspect(
    ctx: Context,
    verifier: LocalVerifier,
    form: OAuthForm,
    address: ClientAddress,
    authorization: Authorization = None,
) -> JSONResponse:
    credentials = parse_client_credentials(authorization=authorization, form=form)
    result = await introspection.introspect(
        ctx=ctx,
        verifier=verifier,
        credentials=credentials,
        token=form.get("token"),
        client_address=address,
    )
    return JSONResponse(result, headers=NO_STORE)
