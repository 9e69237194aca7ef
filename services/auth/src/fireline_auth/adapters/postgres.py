"""The unit of work on PostgreSQL: the repositories of ``adapters`` on one transaction."""

from __future__ import annotations

from fireline_auth.adapters.api_keys_repository import PgApiKeyRepository
from fireline_auth.adapters.key_usage_repository import PgKeyUsageRepository
from fireline_auth.adapters.signing_keys_repository import PgSigningKeyRepository
from fireline_contracts import KEY_EXCHANGE_FAILURES, KEY_USAGE, KeyExchangeFailed, KeyUsed
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.unit_of_work import repository


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """The key projection, the signing keys and the usage marks, with the outbox."""

    api_keys = repository(PgApiKeyRepository)
    signing_keys = repository(PgSigningKeyRepository)
    key_usage = repository(PgKeyUsageRepository)

    async def publish(self, event: KeyUsed | KeyExchangeFailed) -> None:
        spec = KEY_EXCHANGE_FAILURES if isinstance(event, KeyExchangeFailed) else KEY_USAGE
        await self.emit(spec, event)
