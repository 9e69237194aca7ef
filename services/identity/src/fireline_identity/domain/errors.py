"""Domain errors: what went wrong in the language of the product, never in HTTP terms.

The entrypoints map each class to a problem+json response in one place.
"""

from __future__ import annotations


class IdentityError(Exception):
    """Base of every error a use case raises on purpose."""


class InvalidInput(IdentityError):
    """A field breaks a rule (name too long, unknown scope, weak password...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidCredentials(IdentityError):
    """Unknown email, wrong password or inactive user: deliberately indistinguishable."""


class TooManyAttempts(IdentityError):
    """Too many failed logins for this account or address; try again later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Unauthenticated(IdentityError):
    """No valid session: missing, unknown, expired or revoked."""


class PermissionDenied(IdentityError):
    """The user's role does not allow this action."""


class NotFound(IdentityError):
    """No such thing in the caller's org (things of other orgs are not found either)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class KeyLimitReached(IdentityError):
    """The org already has the maximum number of active API keys."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an org can have at most {limit} active API keys")
        self.limit = limit


class KeyAlreadyRevoked(IdentityError):
    """A revoked key is kept for audit only; it cannot be changed any more."""


class KeyExpired(IdentityError):
    """An expired key cannot get a new secret: the rotation keeps its expiry."""


class ReportRefused(IdentityError):
    """A secret-scanning report that is not signed by a configured key; nothing was read."""


class ReportInvalid(IdentityError):
    """A correctly signed secret-scanning report that is not in the partner format."""


class ReportTooLarge(IdentityError):
    """A secret-scanning report over the size or token limit; nothing was read."""


class ScanningNotConfigured(IdentityError):
    """The deployment configured no secret-scanning keys, so no report can be verified."""


class EmailTaken(IdentityError):
    """Another user of the org already has this email (compared case-insensitively)."""


class OrgNameTaken(IdentityError):
    """Another org already has this name (compared case-insensitively)."""


class LastAdmin(IdentityError):
    """The change would leave the org without an active admin."""


class IncidentsNotConfigured(IdentityError):
    """The web UI's backend has no client secret for auth, so it cannot act for people."""


class UpstreamUnavailable(IdentityError):
    """Auth or the incidents API did not answer the web UI's backend in time."""
