"""PagerDuty integrations: what an org configures, and the rules for its signing secrets.

An integration is one webhook endpoint. PagerDuty signs each delivery with every active secret of
the subscription, so two secrets may be active at once while one is rotated out; never more (a
third would only widen what a leaked secret unlocks), and never none (a receiver without a secret
would have to accept unsigned deliveries or refuse all of them).
"""

from __future__ import annotations

import re
import secrets
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Final, Literal
from uuid import UUID

from fireline_contracts.text import first_name_control
from fireline_pagerduty_ingest.domain.errors import InvalidIntegration

MAX_ACTIVE_SECRETS = 2
"""Active signing secrets per integration: the current one and the one being rotated in."""

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 256
MAX_NAME_LENGTH = 200
MAX_LABEL_LENGTH = 100
"""Longest severity or incident type, from the integration or the webhook URL."""
MAX_API_TOKEN_LENGTH = 512
MAX_PRIORITY_MAPPINGS = 50
"""Entries of a priority → severity map; PagerDuty accounts have a handful of priorities."""

DEFAULT_PRIORITY_SEVERITIES: Mapping[str, str] = {
    "P1": "SEV1",
    "P2": "SEV2",
    "P3": "SEV3",
    "P4": "SEV4",
    "P5": "SEV5",
}
"""PagerDuty's default priority names onto the usual SEV scale (SEV3, the incidents service's
default severity, is the middle of both). Every new integration starts with it."""
MAX_URL_LENGTH = 2000

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts plain http is accepted for (when allowed): a PagerDuty double on this machine. Anywhere
else the API token would cross a network in clear text."""

# The authority of an acceptable URL: a DNS name or IPv4 address, or a bracketed IPv6 address,
# and an optional port. Nothing else (no userinfo, backslash, percent-encoding or whitespace):
# parsers disagree on those, and the host checked here must be the host httpx connects to.
_AUTHORITY = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"  # host
    r"(?::[0-9]{1,5})?"  # port
)


@dataclass(frozen=True)
class WriteBack:
    """Whether changes made in Fireline go back to PagerDuty (``domain.sync``), and as whom."""

    sync_to_pagerduty: bool = False
    """Acknowledgements and resolutions made in Fireline are sent to PagerDuty."""
    sync_notes: bool = False
    """Notes added in Fireline are posted as PagerDuty notes (with ``sync_to_pagerduty``)."""
    from_email: str | None = None
    """The PagerDuty user's email PagerDuty's REST API wants in ``From`` on every write."""


OFF: Final = WriteBack()


@dataclass(frozen=True)
class SecretInfo:
    """An active signing secret as the API describes it: never its value."""

    id: UUID
    created_at: datetime


@dataclass(frozen=True)
class Integration:
    """An integration as stored, with its secrets still encrypted (they are not needed here)."""

    id: UUID
    org_id: UUID
    name: str
    pagerduty_api_url: str
    has_api_token: bool
    default_severity: str | None
    default_incident_type: str | None
    secrets: tuple[SecretInfo, ...]
    created_at: datetime
    updated_at: datetime
    priority_severities: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_SEVERITIES)
    )
    """PagerDuty priority name → Fireline severity, for ``incident.priority_updated`` and the
    severity an incident starts with."""
    write_back: WriteBack = OFF


@dataclass(frozen=True)
class IntegrationSettings:
    """What an admin sets on an integration, as stored (signing secrets are kept apart)."""

    name: str
    pagerduty_api_url: str
    api_token_ciphertext: bytes | None
    default_severity: str | None
    default_incident_type: str | None
    priority_severities: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_PRIORITY_SEVERITIES)
    )
    write_back: WriteBack = OFF


class _Keep(Enum):
    KEEP = "keep"


KEEP: Literal[_Keep.KEEP] = _Keep.KEEP
"""An update field left as it is (distinct from None, which clears a nullable field)."""

Keep = Literal[_Keep.KEEP]


@dataclass(frozen=True)
class IntegrationChanges:
    """A partial update of an integration; fields left at KEEP are not touched."""

    name: str | Keep = KEEP
    pagerduty_api_url: str | Keep = KEEP
    pagerduty_api_token: str | Keep | None = KEEP
    default_severity: str | Keep | None = KEEP
    default_incident_type: str | Keep | None = KEEP
    priority_severities: Mapping[str, str] | Keep | None = KEEP
    """Replace the priority → severity map; None restores the default map."""
    sync_to_pagerduty: bool | Keep = KEEP
    sync_notes: bool | Keep = KEEP
    from_email: str | Keep | None = KEEP
    signing_secrets: tuple[str, ...] | None = None
    """Replace every active secret with these (one or two)."""
    add_signing_secret: str | None = None
    """Add this secret (e.g. PagerDuty's new one during a rotation)."""
    generate_signing_secret: bool = False
    """Add a secret generated by Fireline; it is returned once."""
    retire_signing_secret_ids: tuple[UUID, ...] = ()
    """Retire these active secrets (applied before any secret is added)."""


@dataclass(frozen=True)
class SecretPlan:
    """What a create or update does to the signing secrets."""

    retire: frozenset[UUID]
    add: tuple[str, ...]
    generated: str | None
    """The secret Fireline generated, if any: shown to the caller once, in this response only."""


def generate_signing_secret() -> str:
    """A new random signing secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def clean_name(name: str) -> str:
    """The integration name, trimmed; refuse empty or overlong names."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidIntegration("name must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidIntegration(f"name must be at most {MAX_NAME_LENGTH} characters")
    if (control := first_name_control(cleaned)) is not None:
        # Shown in lists and the audit log, where these would disguise the name.
        raise InvalidIntegration(f"name must not contain control or bidi characters ({control})")
    return cleaned


def clean_label(value: str | None, field: str) -> str | None:
    """A severity or incident type, trimmed; empty means "none"."""
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_LABEL_LENGTH:
        raise InvalidIntegration(f"{field} must be at most {MAX_LABEL_LENGTH} characters")
    return cleaned


def clean_priority_severities(mapping: Mapping[str, str] | None) -> dict[str, str]:
    """A priority → severity map as stored: names and severities trimmed, none blank, no name
    twice (names compare case-insensitively, as the mapping does); None is the default map."""
    if mapping is None:
        return dict(DEFAULT_PRIORITY_SEVERITIES)
    if len(mapping) > MAX_PRIORITY_MAPPINGS:
        raise InvalidIntegration(
            f"priority_severities may map at most {MAX_PRIORITY_MAPPINGS} priorities"
        )
    cleaned: dict[str, str] = {}
    seen: set[str] = set()
    for name, severity in mapping.items():
        priority = clean_label(name, "a priority_severities priority")
        mapped = clean_label(severity, "a priority_severities severity")
        if priority is None or mapped is None:
            raise InvalidIntegration("priority_severities names and severities must not be blank")
        if priority.casefold() in seen:
            raise InvalidIntegration(f"priority_severities maps {priority!r} twice")
        seen.add(priority.casefold())
        cleaned[priority] = mapped
    return cleaned


def clean_api_token(token: str | None) -> str | None:
    """A PagerDuty REST API token, trimmed; empty means "no token"."""
    if token is None:
        return None
    cleaned = token.strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_API_TOKEN_LENGTH:
        raise InvalidIntegration(
            f"pagerduty_api_token must be at most {MAX_API_TOKEN_LENGTH} characters"
        )
    return cleaned


def parse_allowed_hosts(raw: str) -> frozenset[str]:
    """The API host allow-list setting as host names: comma-separated, case-insensitive.

    ``[::1]`` and ``::1`` are the same host, as URL parsing reports IPv6 hosts without brackets.
    """
    hosts = (part.strip().lower() for part in raw.split(","))
    return frozenset(host.removeprefix("[").removesuffix("]") for host in hosts if host)


def api_url_refusal(url: str, allowed_hosts: Collection[str]) -> str | None:
    """Why Fireline may not send an integration's API token to ``url``; None when it may.

    The URL must be https to a host in ``allowed_hosts``, or http to a *loopback* host in it.
    Enrichment sends the PagerDuty API token to this URL from inside Fireline's network, so any
    other host would let whoever may edit an integration make this service call internal
    addresses, or collect the token (server-side request forgery).
    """
    if any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in url):
        return "pagerduty_api_url must not contain whitespace, control characters or backslashes"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError when the port is not a number in range
    except ValueError:
        return "pagerduty_api_url is not a valid URL"
    if not host or _AUTHORITY.fullmatch(parts.netloc) is None:
        return "pagerduty_api_url must name a plain host (no credentials) and optionally a port"
    if host not in allowed_hosts:
        return (
            f"pagerduty_api_url must point at an allowed PagerDuty API host "
            f"({', '.join(sorted(allowed_hosts)) or 'none configured'}); {host} is not one"
        )
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return "pagerduty_api_url must use https (plain http only for a loopback host)"


def clean_api_url(url: str, *, allowed_hosts: Collection[str]) -> str:
    """The PagerDuty REST API base URL without a trailing slash, if Fireline may call it.

    A string that is not an absolute URL, or that carries a query, a fragment or credentials, is
    ``invalid_integration``; a URL whose scheme or host is not allowed (:func:`api_url_refusal`)
    is ``api_url_not_allowed``.
    """
    cleaned = url.strip().rstrip("/")
    if len(cleaned) > MAX_URL_LENGTH:
        raise InvalidIntegration(f"pagerduty_api_url must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urllib.parse.urlsplit(cleaned)
        has_credentials = parts.username is not None or parts.password is not None
    except ValueError:
        raise InvalidIntegration("pagerduty_api_url must be an absolute http(s) URL") from None
    if not parts.scheme or not parts.netloc:
        raise InvalidIntegration("pagerduty_api_url must be an absolute http(s) URL")
    if parts.query or parts.fragment or has_credentials:
        raise InvalidIntegration(
            "pagerduty_api_url must not carry a query, a fragment or credentials"
        )
    refusal = api_url_refusal(cleaned, allowed_hosts)
    if refusal is not None:
        raise InvalidIntegration(refusal, code="api_url_not_allowed")
    return cleaned


def clean_secret(secret: str) -> str:
    """A signing secret as pasted from PagerDuty, with surrounding whitespace removed.

    Whitespace is stripped rather than refused: PagerDuty's secrets never contain any, and a
    trailing newline from a copy-paste would otherwise make every signature check fail silently.
    """
    cleaned = secret.strip()
    if not MIN_SECRET_LENGTH <= len(cleaned) <= MAX_SECRET_LENGTH:
        raise InvalidIntegration(
            f"a signing secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters",
            code="invalid_signing_secret",
        )
    return cleaned


def plan_initial_secrets(provided: Sequence[str] | None) -> SecretPlan:
    """The secrets a new integration starts with: the caller's (1 or 2), else one generated."""
    if provided is None or len(provided) == 0:
        generated = generate_signing_secret()
        return SecretPlan(retire=frozenset(), add=(generated,), generated=generated)
    values = _distinct([clean_secret(s) for s in provided])
    _check_count(len(values))
    return SecretPlan(retire=frozenset(), add=tuple(values), generated=None)


def plan_secret_change(
    active: Collection[UUID],
    *,
    retire: Collection[UUID] = (),
    add: Sequence[str] = (),
    generate: bool = False,
    replace_with: Sequence[str] | None = None,
) -> SecretPlan:
    """How an update changes the active secrets; refuse a result with none or too many.

    ``replace_with`` swaps the whole set (it cannot be combined with the other options); else the
    ``retire`` ids are retired first and then ``add`` (and a generated secret) added, so a
    rotation that retires the old secret and adds the new one in one request never exceeds the
    limit in between.
    """
    if replace_with is not None:
        if retire or add or generate:
            raise InvalidIntegration(
                "signing_secrets replaces every secret; do not combine it with "
                "add_signing_secret, generate_signing_secret or retire_signing_secret_ids"
            )
        if len(replace_with) == 0:
            raise InvalidIntegration(
                "signing_secrets must hold one or two secrets", code="no_active_secret"
            )
        values = _distinct([clean_secret(s) for s in replace_with])
        _check_count(len(values))
        return SecretPlan(retire=frozenset(active), add=tuple(values), generated=None)

    unknown = set(retire) - set(active)
    if unknown:
        raise InvalidIntegration(
            "retire_signing_secret_ids names secrets that are not active on this integration: "
            + ", ".join(sorted(str(u) for u in unknown)),
            code="unknown_signing_secret",
        )
    added = _distinct([clean_secret(s) for s in add])
    generated = generate_signing_secret() if generate else None
    if generated is not None:
        added.append(generated)
    remaining = len(set(active) - set(retire)) + len(added)
    _check_count(remaining)
    return SecretPlan(retire=frozenset(retire), add=tuple(added), generated=generated)


def _check_count(count: int) -> None:
    if count > MAX_ACTIVE_SECRETS:
        raise InvalidIntegration(
            f"at most {MAX_ACTIVE_SECRETS} signing secrets may be active; retire one first "
            "(retire_signing_secret_ids) or in the same request",
            code="secret_limit_reached",
        )
    if count < 1:
        raise InvalidIntegration(
            "an integration needs at least one active signing secret",
            code="no_active_secret",
        )


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise InvalidIntegration(
            "the same signing secret is given twice", code="invalid_signing_secret"
        )
    return values


MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def clean_write_back(
    *, sync_to_pagerduty: bool, sync_notes: bool, from_email: str | None, has_api_token: bool
) -> WriteBack:
    """The write-back settings as stored. Sending needs the API token and a ``From`` email:
    turning sync on without them is refused rather than left to fail on every change."""
    email = from_email.strip() if from_email is not None else None
    if email == "":
        email = None
    if email is not None and (len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email)):
        raise InvalidIntegration("from_email must be an email address (a PagerDuty user's)")
    if sync_to_pagerduty and not has_api_token:
        raise InvalidIntegration("sync_to_pagerduty needs pagerduty_api_token")
    if sync_to_pagerduty and email is None:
        raise InvalidIntegration(
            "sync_to_pagerduty needs from_email: PagerDuty's REST API requires a From header"
        )
    if sync_notes and not sync_to_pagerduty:
        raise InvalidIntegration("sync_notes needs sync_to_pagerduty")
    return WriteBack(sync_to_pagerduty=sync_to_pagerduty, sync_notes=sync_notes, from_email=email)
