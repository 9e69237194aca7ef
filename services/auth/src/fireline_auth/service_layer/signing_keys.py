"""Use cases: create the first signing key, rotate keys, and keep the key ring current."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from fireline_auth.adapters.crypto import new_key_pair, thumbprint
from fireline_auth.domain import signing
from fireline_auth.domain.signing import SigningKeyInfo
from fireline_auth.service_layer.context import SigningKeyRing
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.secret_box import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationResult:
    """The key that will sign next, and whether this call created it."""

    key: SigningKeyInfo
    created: bool


async def _create(
    uow: UnitOfWork, *, box: SecretBox, now: datetime, activates_at: datetime
) -> SigningKeyInfo:
    private, public = new_key_pair()
    kid = thumbprint(public)
    await uow.signing_keys.insert(
        kid=kid,
        public_key=public,
        private_key_encrypted=box.seal(private, kid.encode()),
        created_at=now,
        activates_at=activates_at,
    )
    log.info("signing key created", extra={"kid": kid, "activates_at": activates_at.isoformat()})
    return SigningKeyInfo(kid=kid, public_key=public, created_at=now, activates_at=activates_at)


async def ensure_signing_key(uow: UnitOfWork, *, box: SecretBox, now: datetime) -> bool:
    """Create a signing key, active at once, if none signs yet; True if one was created.

    Nothing was signed before, so there is no predecessor to keep signing while a new key is
    published ahead. Safe with several replicas starting together (advisory lock).
    """
    async with uow:
        await uow.signing_keys.lock()
        keys = [s.info for s in await uow.signing_keys.list_all()]
        if signing.current_key(keys, now) is not None:
            return False
        await _create(uow, box=box, now=now, activates_at=now)
        return True


async def rotate_signing_keys(
    uow: UnitOfWork,
    *,
    box: SecretBox,
    now: datetime,
    publish_ahead: timedelta,
    retention: timedelta,
    immediate: bool = False,
    only_if_older_than: timedelta | None = None,
) -> RotationResult | None:
    """Create the next signing key, published now and signing after ``publish_ahead``.

    If a next key is already waiting it is returned instead of adding another. ``immediate`` (for a
    suspected compromise) makes the new key sign at once and withdraws every existing key from the
    JWKS at once (see below); tokens the new key signs may be refused for up to the verifiers'
    refetch floor (30 s). With
    ``only_if_older_than`` (the schedule) nothing happens, and None is returned, unless the
    signing key is that old. Retired keys whose tokens have all expired are deleted.
    """
    async with uow:
        await uow.signing_keys.lock()
        keys = [s.info for s in await uow.signing_keys.list_all()]
        expired = signing.expired_keys(keys, now, retention)
        if expired:
            await uow.signing_keys.delete([k.kid for k in expired])
            log.info("retired signing keys deleted", extra={"kids": [k.kid for k in expired]})
        if only_if_older_than is not None and not signing.rotation_due(
            keys, now, only_if_older_than
        ):
            return None
        if immediate:
            # Suspected compromise: keeping the old keys published for their retention would let
            # tokens forged with them verify for that long. So every existing key goes (the
            # signing one, pending ones, and retired ones, which replicas hold in memory too and
            # so leak together); tokens they signed stop verifying once verifiers refetch the
            # JWKS, and legitimate clients simply exchange their API key again.
            withdrawn = [k.kid for k in keys if k not in expired]
            await uow.signing_keys.delete(withdrawn)
            log.warning("signing keys withdrawn by immediate rotation", extra={"kids": withdrawn})
            return RotationResult(await _create(uow, box=box, now=now, activates_at=now), True)
        waiting = signing.pending_key(keys, now)
        if waiting is not None:
            return RotationResult(waiting, False)
        # With no key signing yet there is nothing to keep signing while the new one is published.
        starts = now if signing.current_key(keys, now) is None else now + publish_ahead
        key = await _create(uow, box=box, now=now, activates_at=starts)
        return RotationResult(key, True)


async def scheduled_rotation(
    uow: UnitOfWork,
    *,
    box: SecretBox,
    now: datetime,
    rotation_period: timedelta,
    publish_ahead: timedelta,
    retention: timedelta,
) -> RotationResult | None:
    """Rotate when the signing key is older than ``rotation_period``; clean up expired keys.

    Runs on every replica's schedule: a lock-free look first, so the common case takes no lock.
    """
    async with uow.reading() as reader:
        keys = [s.info for s in await reader.signing_keys.list_all()]
    due = signing.rotation_due(keys, now, rotation_period)
    if not due and not signing.expired_keys(keys, now, retention):
        return None
    return await rotate_signing_keys(
        uow,
        box=box,
        now=now,
        publish_ahead=publish_ahead,
        retention=retention,
        only_if_older_than=rotation_period,
    )


async def load_signing_keys(uow: UnitOfWork, keyring: SigningKeyRing) -> None:
    """Replace ``keyring``'s keys with the stored ones (another replica or the CLI may rotate)."""
    async with uow.reading() as reader:
        keyring.load(await reader.signing_keys.list_all())
