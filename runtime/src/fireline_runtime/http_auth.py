"""Bearer-token authentication for FastAPI: the only place token errors become HTTP errors.

Wiring, once per service in its composition root::

    jwks = JwksCache.from_url(http_client, settings.jwks_url)
    verifier = TokenVerifier(
        jwks,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        algorithms=settings.token_algorithms,  # FIRELINE_TOKEN_ALGORITHMS
    )
    app.state.bearer_auth = BearerAuth(verifier, revoked_keys)
    install_problem_handlers(app)

and in routes (usually through aliases in the service's ``deps.py``)::

    ReadIncidents = Annotated[Principal, Depends(require_scope("incidents:read"))]

    @router.get("/v1/incidents")
    async def list_incidents(principal: ReadIncidents) -> ...: ...

Dependencies find the :class:`BearerAuth` on ``request.app.state.bearer_auth`` instead of a module
global, so tests build an app with their own verifier and nothing needs patching. Challenges follow
RFC 6750 §3; bodies are RFC 9457 problems.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fireline_runtime.problems import Forbidden, ServiceUnavailable, Unauthorized
from fireline_runtime.revocation import RevokedKeys
from fireline_runtime.tokens import InvalidToken, KeySetUnavailable, Principal, TokenVerifier

if TYPE_CHECKING:
    from fireline_runtime.keys_view import KeysView

REALM = "fireline"
# JWKS refetches are at most every 30 s by default; a client retrying sooner would only hit the
# same outage.
_UNAVAILABLE_RETRY_AFTER_S = 30
STALE_RETRY_AFTER_S = 5
"""Identity's watermarks come every second; once the broker is back the view is current within
seconds, and until then a retry sooner would only meet the same outage."""
# RFC 6749 §3.3 scope-token characters; also keeps the scope safe inside a quoted header value.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
# RFC 6750 §3: error_description may only use these characters.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _challenge(**params: str) -> dict[str, str]:
    attributes = [f'realm="{REALM}"']
    attributes += [f'{name}="{_NOT_DESCRIPTION_CHARS.sub("", v)}"' for name, v in params.items()]
    return {"WWW-Authenticate": "Bearer " + ", ".join(attributes)}


def _invalid_token(reason: str) -> Unauthorized:
    return Unauthorized(
        f"The access token is not valid: {reason}.",
        code="invalid_token",
        title="Invalid access token",
        headers=_challenge(error="invalid_token", error_description=reason),
    )


def _bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None if none was sent."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":  # auth schemes are case-insensitive (RFC 9110 §11.1)
        return None
    return token.strip() or None


class BearerAuth:
    """Turns a request's bearer token into a :class:`Principal`, or raises a 401/503 problem."""

    def __init__(
        self, verifier: TokenVerifier, revoked: RevokedKeys, view: KeysView | None = None
    ) -> None:
        self._verifier = verifier
        self._revoked = revoked
        self._view = view

    @property
    def revoked(self) -> RevokedKeys:
        """The deny list it checks (``token_guard`` keeps it current)."""
        return self._revoked

    async def __call__(self, request: Request) -> Principal:
        token = _bearer_token(request.headers.get("Authorization"))
        if token is None:
            # RFC 6750 §3.1: no error attribute when the request carried no bearer credentials.
            raise Unauthorized(
                "A bearer access token is required.",
                code="missing_token",
                title="Authentication required",
                headers=_challenge(),
            )
        try:
            principal = await self._verifier.verify(token)
        except InvalidToken as exc:
            raise _invalid_token(exc.reason) from None
        except KeySetUnavailable:
            # Not the client's fault and not a verdict on its token: a 401 would make well-behaved
            # clients discard good tokens, so tell them to retry instead.
            raise ServiceUnavailable(
                "Token signing keys are unavailable; retry shortly.",
                code="auth_unavailable",
                headers={"Retry-After": str(_UNAVAILABLE_RETRY_AFTER_S)},
            ) from None
        if principal.key_id in self._revoked:
            raise _invalid_token("key revoked")
        if principal.session_id is not None and str(principal.session_id) in self._revoked:
            raise _invalid_token("session ended")
        now = time.time()
        if self._revoked.secret_retired(principal, now):
            raise _invalid_token("secret rotated")
        if self._view is not None and not self._view.vouches(now):
            # The key may have been revoked since the view was current: neither a 401 (the
            # token may be good) nor a 200 (it may not be) would be true.
            raise ServiceUnavailable(
                "Revocations cannot be checked right now; retry shortly.",
                code="revocations_unavailable",
                headers={"Retry-After": str(STALE_RETRY_AFTER_S)},
            )
        return principal

    def honours(self, principal: Principal, now: float) -> bool:
        """Whether a token verified earlier still stands: for streams that outlive the request
        that opened them, which must end when the token expires, its key or session ends, or a
        rotation retired the secret that bought it."""
        if principal.expires_at <= now or principal.key_id in self._revoked:
            return False
        if self._revoked.secret_retired(principal, now):
            return False
        if self._view is not None and not self._view.vouches(now):
            return False  # the stream ends; the client's reconnection gets the 503
        return principal.session_id is None or str(principal.session_id) not in self._revoked


# Only documents the bearer scheme in OpenAPI (so /docs can send tokens); BearerAuth does the work.
_openapi_bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An access token from the auth service's POST /oauth/token.",
    auto_error=False,
)


async def current_principal(
    request: Request,
    _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(_openapi_bearer)],
) -> Principal:
    """The authenticated caller; FastAPI caches it, so a request's token is verified once."""
    auth = getattr(request.app.state, "bearer_auth", None)
    if not isinstance(auth, BearerAuth):
        # Fail closed: a service wired without a verifier must not serve protected routes.
        raise RuntimeError("app.state.bearer_auth must be set to a BearerAuth at start-up")
    return await auth(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency returning the caller if its token grants ``scope``, else raising 403."""
    if not _SCOPE_TOKEN.fullmatch(scope):
        raise ValueError(f"not a valid OAuth scope: {scope!r}")

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_scope(scope):
            raise Forbidden(
                f"The access token lacks the {scope} scope.",
                code="insufficient_scope",
                title="Insufficient scope",
                headers=_challenge(error="insufficient_scope", scope=scope),
                extra={"required_scope": scope},
            )
        return principal

    return dependency
