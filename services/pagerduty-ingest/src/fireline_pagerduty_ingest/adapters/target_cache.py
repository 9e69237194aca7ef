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
from collections.abc import Awaitable, Callable
from uuid import UUID

from fireline_pagerduty_ingest.adapters.integrations_repository import TARGETS_CHANNEL
from fireline_pagerduty_ingest.domain.sealing import signing_secret_context
from fireline_pagerduty_ingest.domain.target import OpenTarget, WebhookTarget
from fireline_runtime.notify_cache import NotifyCache
from fireline_runtime.secret_box import SecretBox, UndecryptableSecret

log = logging.getLogger(__name__)


TargetLoader = Callable[[UUID], Awaitable[WebhookTarget | None]]
"""Reads one integration's webhook target from storage (``service_layer.webhooks.load_target``
on a fresh unit of work; ``bootstrap.py`` wires it)."""


class CachedTargets:
    """The receiver's ``WebhookTargets``: targets read through ``load``, opened and kept."""

    def __init__(self, box: SecretBox, load: TargetLoader) -> None:
        self._box = box
        self._load = load
        self.cache: NotifyCache[UUID, OpenTarget] = NotifyCache(TARGETS_CHANNEL, UUID)

    async def get(self, integration_id: UUID) -> OpenTarget | None:
        """The live integration ``integration_id`` names, or None (deleted or never existed)."""
        cached = self.cache.get(integration_id)
        if cached is not None:
            return cached
        epoch = self.cache.epoch()
        target = await self._load(integration_id)
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
