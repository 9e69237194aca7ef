"""Domain errors: what went wrong in the language of the product, never in HTTP terms.

The entrypoints map each class to a problem+json response in one place.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use case raises on purpose."""


class InvalidInput(DomainError):
    """A field breaks a rule (name too long, unknown scope, weak password...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidCredentials(DomainError):
    """Unknown email, wrong password or inactive user: deliberately indistinguishable."""


class TooManyAttempts(DomainError):
    """Too many failed logins for this account or address; try again later."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Unauthenticated(DomainError):
    """No valid session: missing, unknown, expired or revoked."""


class PermissionDenied(DomainError):
    """The user's role does not allow this action."""


class NotFound(DomainError):
    """No such thing in the caller's org (things of other orgs are not found either)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class KeyLimitReached(DomainError):
    """The org already has the maximum number of active API keys."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an org can have at most {limit} active API keys")
        self.limit = limit


class KeyAlreadyRevoked(DomainError):
    """A revoked key is kept for audit only; it cannot be changed any more."""


class KeyExpired(DomainError):
    """An expired key cannot get a new secret: the rotation keeps its expiry."""


class ReportRefused(DomainError):
    """A secret-scanning report that is not signed by a configured key; nothing was read."""


class ReportInvalid(DomainError):
    """A correctly signed secret-scanning report that is not in the partner format."""


class ReportTooLarge(DomainError):
    """A secret-scanning report over the size or token limit; nothing was read."""


class ScanningNotConfigured(DomainError):
    """The deployment configured no secret-scanning keys, so no report can be verified."""


class EmailTaken(DomainError):
    """Another user of the org already has this email (compared case-insensitively)."""


class OrgNameTaken(DomainError):
    """Another org already has this name (compared case-insensitively)."""


class LastAdmin(DomainError):
    """The change would leave the org without an active admin."""


class IncidentsNotConfigured(DomainError):
    """The web UI's backend has no client secret for auth, so it cannot act for people."""


class UpstreamUnavailable(DomainError):
    """Auth or the incidents API did not answer the web UI's backend in time."""
