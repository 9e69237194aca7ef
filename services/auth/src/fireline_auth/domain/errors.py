"""Domain errors of the auth service.

Each carries the RFC 6749 §5.2 error code (``error``) and a short description that is safe to send
to the client. The entrypoints map them to HTTP statuses in one place.
"""

from __future__ import annotations

from enum import StrEnum


class AuthError(Exception):
    """An OAuth-style error: ``error`` is the RFC 6749 §5.2 (or RFC 6750) code."""

    error = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(AuthError):
    error = "invalid_request"


class ClientAuthMethod(StrEnum):
    """How the client presented its credentials; decides the 401 challenge."""

    BASIC = "client_secret_basic"
    POST = "client_secret_post"
    BARE_KEY = "authorization_key"  # the Blameless-style `Authorization: <key>`
    NONE = "none"


class InvalidClient(AuthError):
    """Client authentication failed. One description for every cause, on purpose."""

    error = "invalid_client"

    def __init__(self, method: ClientAuthMethod) -> None:
        super().__init__("Client authentication failed.")
        self.method = method


class UnsupportedGrantType(AuthError):
    error = "unsupported_grant_type"


class InvalidScope(AuthError):
    error = "invalid_scope"


class RateLimited(AuthError):
    """Too many failed attempts from this client or address; retry after ``retry_after_s``."""

    error = "rate_limited"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("Too many failed attempts; retry later.")
        self.retry_after_s = retry_after_s


class TemporarilyUnavailable(AuthError):
    """No token can be issued right now; the client should retry after ``retry_after_s``.

    RFC 6749 defines no token-endpoint error for this; ``temporarily_unavailable`` is the name
    its §4.1.2.1 registers for the authorization endpoint, so OAuth clients know it."""

    error = "temporarily_unavailable"
    retry_after_s = 5


class SigningUnavailable(TemporarilyUnavailable):
    """No usable signing key (e.g. the encryption key does not decrypt it)."""

    def __init__(self) -> None:
        super().__init__("Tokens cannot be issued right now; retry later.")


class RevocationsUnavailable(TemporarilyUnavailable):
    """Auth's view of identity's keys is older than the bound: a key revoked since may still look
    valid here, so no key is exchanged until the view is current again. Identity's watermarks
    come every second, so once the broker is back the view is current within seconds."""

    def __init__(self) -> None:
        super().__init__("Revocations cannot be checked right now; retry later.")


class ConfigurationError(RuntimeError):
    """The service is misconfigured and must not start."""


class InvalidGrant(AuthError):
    """The authorization grant (a person assertion) is invalid, expired or not ours."""

    error = "invalid_grant"
