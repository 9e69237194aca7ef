"""Secret-scanning reports in GitHub's partner format, and what Fireline answers about each token.

A report is a JSON array of ``{"token", "type", "url", "source"}``; the answer is a JSON array of
``{"token_raw", "token_type", "label"}``. Only the token's shape is judged here (the checksum from
``fireline_contracts.api_keys``, the one definition); whether it names a key is the use case's.

Two kinds of trouble, told apart on purpose. A report that is not the partner format (not JSON,
nested past ``fireline_contracts.bounds.MAX_JSON_DEPTH``, not an array of objects with a string
``token`` and ``type``) is refused with a 400. Odd *content* in a well-formed entry is not: text
Fireline cannot store is normalised to U+FFFD and the URL, type and source are cut to
:data:`MAX_FIELD_LENGTH`, because refusing the report would leave a leaked key live.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, overload

from fireline_contracts.bounds import loads_bounded
from fireline_contracts.text import normalise_text
from fireline_identity.domain.errors import ReportInvalid

MAX_REPORT_BYTES = 512 * 1024
"""GitHub batches tokens per report; this bounds what one request can make identity read."""
MAX_REPORT_TOKENS = 1000
"""Each token costs a database lookup (and perhaps a revocation) in one transaction."""
MAX_FIELD_LENGTH = 2048
"""The longest URL, type or source kept (the longest ``report_url`` a ``KeyRevoked`` carries)."""


class Label(StrEnum):
    TRUE_POSITIVE = "true_positive"
    """A key Fireline issued: revoked now if it still worked, else already dead."""
    FALSE_POSITIVE = "false_positive"
    """Not a Fireline key: a bad checksum, or a well-formed string no key ever had."""


@dataclass(frozen=True)
class ReportedToken:
    token: str
    type: str
    url: str | None
    source: str | None

    def __repr__(self) -> str:
        # The token may be a live secret: keep it out of logs and tracebacks.
        return f"ReportedToken(type={self.type!r}, url={self.url!r})"


@dataclass(frozen=True)
class Verdict:
    token: ReportedToken
    label: Label


def parse_report(body: bytes) -> list[ReportedToken]:
    """The report's tokens; :class:`ReportInvalid` for anything but the partner format."""
    try:
        entries = loads_bounded(body)
    except ValueError as exc:  # bad UTF-8, bad JSON, or nested too deep to walk
        raise ReportInvalid(f"the report is not JSON a scanner sends: {exc}") from None
    if not isinstance(entries, list):
        raise ReportInvalid("the report must be a JSON array of reported tokens")
    if len(entries) > MAX_REPORT_TOKENS:
        raise ReportInvalid(f"a report may name at most {MAX_REPORT_TOKENS} tokens")
    return [_entry(i, entry) for i, entry in enumerate(entries)]


def _entry(index: int, entry: Any) -> ReportedToken:
    if not isinstance(entry, dict):
        raise ReportInvalid(f"entry {index} is not an object")
    token, kind = _text(entry, "token", index), _text(entry, "type", index)
    if token is None or kind is None:
        raise ReportInvalid(f"entry {index} needs `token` and `type`")
    return ReportedToken(
        # The token is echoed whole (the scanner matches answers by it): a key is ASCII, so a
        # normalised token is simply a false positive.
        token=normalise_text(token),
        type=_bounded(kind),
        url=_bounded(_text(entry, "url", index)),
        source=_bounded(_text(entry, "source", index)),
    )


def _text(entry: dict[str, Any], field: str, index: int) -> str | None:
    value = entry.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportInvalid(f"entry {index}: `{field}` must be text")
    return value


@overload
def _bounded(value: str) -> str: ...
@overload
def _bounded(value: None) -> None: ...
def _bounded(value: str | None) -> str | None:
    return None if value is None else normalise_text(value[:MAX_FIELD_LENGTH])
