"""API keys by id in memory, in front of the ``api_keys`` projection."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fireline_auth.adapters.api_keys_repository import KEYS_CHANNEL
from fireline_auth.domain.keys import ApiKey
from fireline_auth.service_layer.unit_of_work import UnitOfWork
from fireline_runtime.notify_cache import NotifyCache


class _Absent:
    """What the cache holds for a key id the projection does not have."""


_ABSENT = _Absent()


class CachedKeys:
    """Keys by id for the token exchange, from memory when possible (``NotifyCache``'s rules).

    A cached key saves the exchange's only database round trip. Revocation still takes effect
    within the notification's delivery: the projection's writes notify ``KEYS_CHANNEL`` in their
    transaction. Unknown ids are cached too (as absent), so asking again for a key id costs the
    same whether the key exists or not: the exchange's work does not tell which ids exist. The
    first lookup of an id on a replica reads the database either way. A key created later is
    found at once, since its creation notifies like any other write.
    """

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow
        self.cache: NotifyCache[UUID, ApiKey | _Absent] = NotifyCache(KEYS_CHANNEL, UUID)

    async def get(self, key_id: UUID) -> ApiKey | None:
        cached = self.cache.get(key_id)
        if cached is not None:
            return None if isinstance(cached, _Absent) else cached
        epoch = self.cache.epoch()
        async with self._uow().reading() as uow:
            key = await uow.api_keys.get(key_id)
        self.cache.put(key_id, _ABSENT if key is None else key, epoch)
        return key
