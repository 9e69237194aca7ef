"""Discovery documents: the JWKS and the authorization server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fireline_auth.domain.people import JWT_BEARER
from fireline_auth.domain.scopes import KNOWN_SCOPES
from fireline_auth.entrypoints.deps import Context

router = APIRouter(tags=["discovery"])

_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@router.get("/.well-known/jwks.json", summary="Public signing keys (JWK Set)")
async def jwks(ctx: Context) -> JSONResponse:
    max_age = ctx.jwks_max_age_s
    return JSONResponse(
        ctx.keyring.jwks(ctx.clock()), headers={"Cache-Control": f"public, max-age={max_age}"}
    )


@router.get(
    "/.well-known/oauth-authorization-server", summary="Authorization server metadata (RFC 8414)"
)
async def metadata(ctx: Context) -> dict[str, Any]:
    issuer = ctx.policy.issuer
    # The issuer is this service's public base URL.
    base = issuer.rstrip("/")
    # The JWT bearer grant serves only the web UI's backend, and only where it is configured.
    grants = ["client_credentials"] + ([JWT_BEARER] if ctx.ui_client is not None else [])
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": grants,
        # Required by RFC 8414; empty because there is no authorization endpoint: people log in
        # at identity, whose backend holds their tokens (no code flow, no PKCE).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": _CLIENT_AUTH_METHODS,
        "scopes_supported": list(KNOWN_SCOPES),
        "service_documentation": f"{base}/docs",
    }
