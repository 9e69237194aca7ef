"""The ``webhook_endpoints`` and ``endpoint_secrets`` tables: the orgs' endpoints and their
signing secrets.

URLs and signing secrets are sealed here on the way in and opened on the way out, each bound to
its row, so nothing above this module handles ciphertext and nothing below it sees plaintext.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import cast
from uuid import UUID

import asyncpg

from fireline_notifications.domain.endpoint import (
    DisabledReason,
    Endpoint,
    Format,
    SigningSecret,
)
from fireline_runtime.db import Connection
from fireline_runtime.secret_box import SecretBox
from fireline_runtime.unit_of_work import PgRepository

_ENDPOINT_COLUMNS = """
    id, org_id, url_sealed, description, event_types, format, enabled, disabled_reason,
    disabled_at, failing_since, created_at, updated_at
"""


def _url_context(endpoint_id: UUID) -> str:
    return f"webhook-endpoint-url:{endpoint_id}"


def _secret_context(secret_id: UUID) -> str:
    return f"webhook-endpoint-secret:{secret_id}"


class PgEndpointRepository(PgRepository):
    def __init__(self, conn: Connection, box: SecretBox) -> None:
        super().__init__(conn)
        self._box = box

    def _endpoint(self, row: asyncpg.Record) -> Endpoint:
        return Endpoint(
            id=row["id"],
            org_id=row["org_id"],
            url=self._box.open_text(row["url_sealed"], context=_url_context(row["id"])),
            description=row["description"],
            event_types=tuple(row["event_types"]),
            format=cast(Format, row["format"]),  # the CHECK constraint admits only these
            enabled=row["enabled"],
            disabled_reason=cast(DisabledReason | None, row["disabled_reason"]),
            disabled_at=row["disabled_at"],
            failing_since=row["failing_since"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def add(self, endpoint: Endpoint, secret: SigningSecret) -> None:
        await self._conn.execute(
            f"""
            INSERT INTO webhook_endpoints ({_ENDPOINT_COLUMNS}, host)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,  # noqa: S608 - fixed fragments only
            *self._row(endpoint),
        )
        await self.add_secret(endpoint.id, secret)

    def _row(self, e: Endpoint) -> tuple[object, ...]:
        sealed = self._box.seal_text(e.url, context=_url_context(e.id))
        return (
            e.id,
            e.org_id,
            sealed,
            e.description,
            list(e.event_types),
            e.format,
            e.enabled,
            e.disabled_reason,
            e.disabled_at,
            e.failing_since,
            e.created_at,
            e.updated_at,
            e.host,
        )

    async def get(
        self, org_id: UUID | None, endpoint_id: UUID, *, for_update: bool = False
    ) -> Endpoint | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"  # noqa: S608 - fixed fragments only
            f" WHERE id = $1 AND ($2::uuid IS NULL OR org_id = $2){lock}",
            endpoint_id,
            org_id,
        )
        return self._endpoint(row) if row else None

    async def _select(self, condition: str, *args: object) -> list[Endpoint]:
        rows = await self._conn.fetch(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {condition}",  # noqa: S608 - fixed fragments only
            *args,
        )
        return [self._endpoint(r) for r in rows]

    async def of_org(self, org_id: UUID) -> list[Endpoint]:
        return await self._select("org_id = $1 ORDER BY created_at, id", org_id)

    async def of_orgs(self, org_ids: Collection[UUID]) -> list[Endpoint]:
        return await self._select(
            "org_id = ANY ($1::uuid[]) ORDER BY org_id, created_at, id", list(org_ids)
        )

    async def save(self, endpoint: Endpoint) -> None:
        await self._conn.execute(
            """
            UPDATE webhook_endpoints SET url_sealed = $3, description = $4, event_types = $5,
                format = $6, enabled = $7, disabled_reason = $8, disabled_at = $9,
                failing_since = $10, created_at = $11, updated_at = $12, host = $13
            WHERE id = $1 AND org_id = $2
            """,
            *self._row(endpoint),
        )

    async def delete(self, org_id: UUID, endpoint_id: UUID) -> bool:
        status = await self._conn.execute(
            "DELETE FROM webhook_endpoints WHERE id = $1 AND org_id = $2", endpoint_id, org_id
        )
        return bool(status.endswith(" 1"))

    async def enabled_of(self, endpoint_ids: Collection[UUID]) -> list[Endpoint]:
        return await self._select("id = ANY ($1::uuid[]) AND enabled", list(endpoint_ids))

    async def signing_secrets(
        self, endpoint_ids: Collection[UUID], now: datetime
    ) -> dict[UUID, list[SigningSecret]]:
        rows = await self._conn.fetch(
            """
            SELECT id, endpoint_id, secret_sealed, created_at, expires_at FROM endpoint_secrets
            WHERE endpoint_id = ANY ($1::uuid[]) AND (expires_at IS NULL OR expires_at > $2)
            ORDER BY endpoint_id, created_at DESC, id
            """,
            list(endpoint_ids),
            now,
        )
        found: dict[UUID, list[SigningSecret]] = {}
        for r in rows:
            found.setdefault(r["endpoint_id"], []).append(
                SigningSecret(
                    id=r["id"],
                    secret=self._box.open_text(
                        r["secret_sealed"], context=_secret_context(r["id"])
                    ),
                    created_at=r["created_at"],
                    expires_at=r["expires_at"],
                )
            )
        return found

    async def add_secret(self, endpoint_id: UUID, secret: SigningSecret) -> None:
        await self._conn.execute(
            """
            INSERT INTO endpoint_secrets (id, endpoint_id, secret_sealed, created_at, expires_at)
            VALUES ($1, $2, $3, $4, $5)
            """,
            secret.id,
            endpoint_id,
            self._box.seal_text(secret.secret, context=_secret_context(secret.id)),
            secret.created_at,
            secret.expires_at,
        )

    async def expire_secrets(self, endpoint_id: UUID, at: datetime) -> None:
        await self._conn.execute(
            """
            UPDATE endpoint_secrets SET expires_at = $2
            WHERE endpoint_id = $1 AND (expires_at IS NULL OR expires_at > $2)
            """,
            endpoint_id,
            at,
        )
