"""The unit of work on PostgreSQL: the repositories of ``adapters`` on one transaction."""

from __future__ import annotations

from fireline_auth.adapters.key_projection import PgApiKeyProjection
from fireline_auth.adapters.key_usage import PgKeyUsageMarks
from fireline_auth.adapters.signing_keys import PgSigningKeys
from fireline_contracts import KEY_EXCHANGE_FAILURES, KEY_USAGE, KeyExchangeFailed, KeyUsed
from fireline_runtime import unit_of_work as runtime_uow
from fireline_runtime.db import Connection


class PgUnitOfWork(runtime_uow.PgUnitOfWork):
    """The key projection, the signing keys and the usage marks, with the outbox."""

    _api_keys: PgApiKeyProjection | None = None
    _signing_keys: PgSigningKeys | None = None
    _key_usage: PgKeyUsageMarks | None = None

    def _bind(self, conn: Connection) -> None:
        self._api_keys = PgApiKeyProjection(conn)
        self._signing_keys = PgSigningKeys(conn)
        self._key_usage = PgKeyUsageMarks(conn)

    def _unbind(self) -> None:
        self._api_keys = None
        self._signing_keys = None
        self._key_usage = None

    @property
    def api_keys(self) -> PgApiKeyProjection:
        if self._api_keys is None:
            raise RuntimeError("enter the unit of work first")
        return self._api_keys

    @property
    def signing_keys(self) -> PgSigningKeys:
        if self._signing_keys is None:
            raise RuntimeError("enter the unit of work first")
        return self._signing_keys

    @property
    def key_usage(self) -> PgKeyUsageMarks:
        if self._key_usage is None:
            raise RuntimeError("enter the unit of work first")
        return self._key_usage

    async def publish(self, event: KeyUsed | KeyExchangeFailed) -> None:
        spec = KEY_EXCHANGE_FAILURES if isinstance(event, KeyExchangeFailed) else KEY_USAGE
        await self.emit(spec, event)
