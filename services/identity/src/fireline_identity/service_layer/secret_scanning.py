"""Use case: a secret scanner reports tokens it found in public; live keys among them are revoked.

The report is verified before it is read at all. Each token then gets a label: a bad checksum or
a secret no key ever had is a false positive; a key's secret is a true positive, and the key is
revoked at once (reason ``leaked``, with the report's URL) if the secret still worked: the key's
current secret, or the one a rotation replaced while its grace period lasts. Reporting a key that
is already dead changes nothing, so a repeated report is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fireline_contracts import api_keys, utc_now
from fireline_identity.domain.errors import ReportRefused, ScanningNotConfigured
from fireline_identity.domain.keys import KeyStatus, Revocation, RevocationReason
from fireline_identity.domain.secret_scanning import Label, ReportedToken, Verdict, parse_report
from fireline_identity.service_layer import events
from fireline_identity.service_layer.ports import ReportVerifier
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


async def handle_report(
    *,
    uow: UnitOfWork,
    verifier: ReportVerifier | None,
    body: bytes,
    key_identifier: str | None,
    signature: str | None,
) -> list[Verdict]:
    """Verify the report's signature, then label every token, revoking the live keys."""
    if verifier is None:
        raise ScanningNotConfigured("no secret-scanning keys are configured")
    if not verifier.verify(body, key_identifier, signature):
        raise ReportRefused("the report's signature does not verify with a configured key")
    reported = parse_report(body)
    now = utc_now()
    async with uow:
        return [await _judge(uow, token, now) for token in reported]


async def _judge(uow: UnitOfWork, reported: ReportedToken, now: datetime) -> Verdict:
    # The checksum first: most look-alikes are refused without touching the database.
    if not api_keys.is_well_formed(reported.token):
        return Verdict(reported, Label.FALSE_POSITIVE)
    found = await uow.keys.find_by_secret(api_keys.digest(reported.token))
    if found is None:
        return Verdict(reported, Label.FALSE_POSITIVE)
    key, is_current = found
    still_works = key.status(now) is KeyStatus.ACTIVE and (is_current or key.in_grace(now))
    if still_works:
        # No user did it: the event's null revoked_by with reason and URL is the audit's "secret
        # scanner, report at ...".
        revocation = Revocation(
            at=now, by=None, reason=RevocationReason.LEAKED, report_url=reported.url
        )
        await uow.keys.revoke(key.id, revocation)
        await uow.publish(events.key_revoked(key, revocation))
        log.warning(
            "leaked api key revoked",
            extra={"key_id": str(key.id), "org_id": str(key.org_id), "report_url": reported.url},
        )
    return Verdict(reported, Label.TRUE_POSITIVE)
