"""Use cases: create the first signing key, rotate keys, and keep the key ring current."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from fireline_auth.domain import signing
from fireline_auth.domain.signing import SigningKeyInfo, StoredSigningKey
from fireline_auth.service_layer.ports import SigningKeyRing
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.jose import Algorithm
from fireline_runtime.secret_box import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationResult:
    """The key that will sign next, and whether this call created it."""

    key: SigningKeyInfo
    created: bool


async def _create(
    uow: UnitOfWork,
    *,
    box: SecretBox,
    algorithm: Algorithm,
    now: datetime,
    activates_at: datetime,
) -> SigningKeyInfo:
    # Off the event loop: an RSA-2048 key takes from tens to hundreds of milliseconds to find,
    # which would stall every exchange this replica is serving meanwhile.
    key = await asyncio.to_thread(signing.new_signing_key, algorithm)
    info = SigningKeyInfo(key.kid, key.public_key, now, activates_at, key.algorithm)
    sealed = box.seal(key.private_key, key.kid.encode())
    await uow.signing_keys.insert(StoredSigningKey(info, sealed))
    log.info(
        "signing key created",
        extra={
            "kid": key.kid,
            "algorithm": str(algorithm),
            "activates_at": activates_at.isoformat(),
        },
    )
    return info


async def ensure_signing_key(
    uow: UnitOfWork, *, box: SecretBox, algorithm: Algorithm, now: datetime
) -> bool:
    """Create a signing key, active at once, if none signs yet; True if one was created.

    Nothing was signed before, so there is no predecessor to keep signing while a new key is
    published ahead. Safe with several replicas starting together (advisory lock).
    """
    async with uow:
        await uow.signing_keys.lock()
        keys = [s.info for s in await uow.signing_keys.list_all()]
        # ``now`` was read before the lock. A replica starting at the same moment may have made
        # its key while this one waited (finding an RSA key takes a while), with a later ``now``:
        # that key signs from its creation, and only looks pending from here.
        signs_at_once = any(k.activates_at == k.created_at for k in keys)
        if signs_at_once or signing.current_key(keys, now) is not None:
            return False
        await _create(uow, box=box, algorithm=algorithm, now=now, activates_at=now)
        return True


async def rotate_signing_keys(
    uow: UnitOfWork,
    *,
    box: SecretBox,
    algorithm: Algorithm,
    now: datetime,
    publish_ahead: timedelta,
    retention: timedelta,
    immediate: bool = False,
    only_if_older_than: timedelta | None = None,
    algorithm_chosen_at: datetime | None = None,
) -> RotationResult | None:
    """Create the next signing key, of ``algorithm``: published now, signs after ``publish_ahead``.

    If a next key is already waiting it is returned instead of adding another. ``immediate`` (for a
    suspected compromise) makes the new key sign at once and withdraws every existing key from the
    JWKS at once (see below); tokens the new key signs may be refused for up to the verifiers'
    refetch floor (30 s). With
    ``only_if_older_than`` (the schedule) nothing happens, and None is returned, unless the
    signing key is that old or of another algorithm (see ``signing.rotation_due`` for
    ``algorithm_chosen_at``). Retired keys whose tokens have all expired are deleted.
    """
    async with uow:
        await uow.signing_keys.lock()
        keys = [s.info for s in await uow.signing_keys.list_all()]
        expired = signing.expired_keys(keys, now, retention)
        if expired:
            await uow.signing_keys.delete([k.kid for k in expired])
            log.info("retired signing keys deleted", extra={"kids": [k.kid for k in expired]})
        if only_if_older_than is not None and not signing.rotation_due(
            keys, now, only_if_older_than, algorithm, chosen_at=algorithm_chosen_at
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
            created = await _create(uow, box=box, algorithm=algorithm, now=now, activates_at=now)
            return RotationResult(created, True)
        waiting = signing.pending_key(keys, now)
        if waiting is not None:
            return RotationResult(waiting, False)
        # With no key signing yet there is nothing to keep signing while the new one is published.
        starts = now if signing.current_key(keys, now) is None else now + publish_ahead
        key = await _create(uow, box=box, algorithm=algorithm, now=now, activates_at=starts)
        return RotationResult(key, True)


async def scheduled_rotation(
    uow: UnitOfWork,
    *,
    box: SecretBox,
    algorithm: Algorithm,
    now: datetime,
    rotation_period: timedelta,
    publish_ahead: timedelta,
    retention: timedelta,
    algorithm_chosen_at: datetime | None = None,
) -> RotationResult | None:
    """Rotate when the signing key is older than ``rotation_period`` or signs with another
    algorithm than ``algorithm``; clean up expired keys.

    A changed algorithm setting therefore takes effect as an ordinary rotation: the new key is
    published ``publish_ahead`` before it signs, and the old one stays published until its tokens
    have expired, so no verifier refuses a token during the switch. A key of another algorithm
    created after ``algorithm_chosen_at`` is left alone (the later decision wins).

    Runs on every replica's schedule: a lock-free look first, so the common case takes no lock.
    """
    async with uow.reading() as reader:
        keys = [s.info for s in await reader.signing_keys.list_all()]
    due = signing.rotation_due(keys, now, rotation_period, algorithm, chosen_at=algorithm_chosen_at)
    if not due and not signing.expired_keys(keys, now, retention):
        return None
    return await rotate_signing_keys(
        uow,
        box=box,
        algorithm=algorithm,
        now=now,
        publish_ahead=publish_ahead,
        retention=retention,
        only_if_older_than=rotation_period,
        algorithm_chosen_at=algorithm_chosen_at,
    )


async def load_signing_keys(uow: UnitOfWork, keyring: SigningKeyRing) -> None:
    """Replace ``keyring``'s keys with the stored ones (another replica or the CLI may rotate)."""
    async with uow.reading() as reader:
        keyring.load(await reader.signing_keys.list_all())
