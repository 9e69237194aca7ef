"""Webhook targets (an integration and its signing secrets, decrypted) kept in memory.

Every delivery needs its integration's defaults and active secrets. Reading them costs a round
trip and decrypting them a few microseconds per secret; both are paid once per integration here
and again only after a change. Changes notify ``TARGETS_CHANNEL`` in their transaction and every
replica drops its copy (``fireline_runtime.notify_cache`` has the rules).

The decrypted secrets live in this process's memory for as long as the entry does. They are in it
anyway while a delivery is verified; keeping them is what a cache of them means. A target with a
secret that did not decrypt is never cached, so a fixed encryption key takes effect at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from fireline_pagerduty_ingest.adapters.crypto import signing_secret_context
from fireline_pagerduty_ingest.adapters.repository import (
    TARGETS_CHANNEL,
    IntegrationRepository,
    WebhookTarget,
)
from fireline_runtime.notify_cache import NotifyCache
from fireline_runtime.secret_box import SecretBox, UndecryptableSecret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenTarget:
    """A live integration with its active signing secrets in clear text."""

    target: WebhookTarget
    secrets: tuple[str, ...]
    unreadable: bool
    """True when some active secret did not decrypt (a wrong encryption key)."""

    def __repr__(self) -> str:
        return f"OpenTarget(integration={self.target.id}, secrets={len(self.secrets)})"


class CachedTargets:
    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self.cache: NotifyCache[UUID, OpenTarget] = NotifyCache(TARGETS_CHANNEL, UUID)

    async def get(self, pool: asyncpg.Pool, integration_id: UUID) -> OpenTarget | None:
        """The live integration ``integration_id`` names, or None (deleted or never existed)."""
        cached = self.cache.get(integration_id)
        if cached is not None:
            return cached
        epoch = self.cache.epoch()
        async with pool.acquire() as conn:
            target = await IntegrationRepository(conn).webhook_target(integration_id)
        if target is None:
            return None
        opened = self._open(target)
        if not opened.unreadable:
            self.cache.put(integration_id, opened, epoch)
        return opened

    def _open(self, target: WebhookTarget) -> OpenTarget:
        secrets = []
        unreadable = False
        for secret in target.secrets:
            try:
                context = signing_secret_context(target.id, secret.id)
                secrets.append(self._box.open_text(secret.ciphertext, context=context))
            except UndecryptableSecret:
                unreadable = True
                # A wrong FIRELINE_INGEST_ENCRYPTION_KEY: the secret cannot verify anything, and
                # the operator must hear about it (without the secret, which we do not have).
                log.error(
                    "a signing secret does not decrypt; is FIRELINE_INGEST_ENCRYPTION_KEY right?",
                    extra={"integration_id": str(target.id), "secret_id": str(secret.id)},
                )
        return OpenTarget(target=target, secrets=tuple(secrets), unreadable=unreadable)
