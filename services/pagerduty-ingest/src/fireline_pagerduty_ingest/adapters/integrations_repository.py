"""PostgreSQL storage of integrations and their signing secrets."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from fireline_pagerduty_ingest.domain.integration import (
    Integration,
    IntegrationSettings,
    SecretInfo,
    WriteBack,
)
from fireline_pagerduty_ingest.domain.target import (
    SealedCredentials,
    SealedSecret,
    WebhookTarget,
)
from fireline_runtime.db import Record
from fireline_runtime.notify_cache import notify
from fireline_runtime.unit_of_work import PgRepository

TARGETS_CHANNEL = "fireline_ingest_webhook_targets"
"""Every change to what ``webhook_target`` returns notifies this channel with the integration id,
so each replica drops its cached copy (``adapters.target_cache``)."""

_INTEGRATION_COLUMNS = """
    i.id, i.org_id, i.name, i.pagerduty_api_url, i.api_token_ciphertext IS NOT NULL AS has_token,
    i.default_severity, i.default_incident_type, i.created_at, i.updated_at,
    i.priority_severities, i.sync_to_pagerduty, i.sync_notes, i.from_email,
    COALESCE(
        (SELECT array_agg(s.id ORDER BY s.created_at, s.id) FROM signing_secrets s
         WHERE s.integration_id = i.id AND s.retired_at IS NULL), '{}') AS secret_ids,
    COALESCE(
        (SELECT array_agg(s.created_at ORDER BY s.created_at, s.id) FROM signing_secrets s
         WHERE s.integration_id = i.id AND s.retired_at IS NULL), '{}') AS secret_created
"""


class PgIntegrationRepository(PgRepository):
    """Integrations and their signing secrets."""

    async def add(
        self, *, integration_id: UUID, org_id: UUID, settings: IntegrationSettings
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO integrations (id, org_id, name, pagerduty_api_url, api_token_ciphertext,
                                      default_severity, default_incident_type,
                                      priority_severities, sync_to_pagerduty, sync_notes,
                                      from_email)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            """,
            integration_id,
            org_id,
            *_columns(settings),
        )

    async def get(
        self, *, org_id: UUID, integration_id: UUID, for_update: bool = False
    ) -> Integration | None:
        """The live integration of ``org_id``; ``for_update`` locks it until commit."""
        if for_update:
            locked = await self._conn.fetchval(
                """
                SELECT id FROM integrations
                WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL FOR UPDATE
                """,
                integration_id,
                org_id,
            )
            if locked is None:
                return None
        row = await self._conn.fetchrow(
            f"""
            SELECT {_INTEGRATION_COLUMNS} FROM integrations i
            WHERE i.id = $1 AND i.org_id = $2 AND i.deleted_at IS NULL
            """,  # noqa: S608 - a constant column list, no input
            integration_id,
            org_id,
        )
        return _integration(row) if row is not None else None

    async def of_org(self, *, org_id: UUID) -> list[Integration]:
        rows = await self._conn.fetch(
            f"""
            SELECT {_INTEGRATION_COLUMNS} FROM integrations i
            WHERE i.org_id = $1 AND i.deleted_at IS NULL
            ORDER BY i.created_at, i.id
            """,  # noqa: S608 - a constant column list, no input
            org_id,
        )
        return [_integration(row) for row in rows]

    async def update(self, *, integration_id: UUID, settings: IntegrationSettings) -> None:
        await self._conn.execute(
            """
            UPDATE integrations
            SET name = $2, pagerduty_api_url = $3, api_token_ciphertext = $4,
                default_severity = $5, default_incident_type = $6, priority_severities = $7,
                sync_to_pagerduty = $8, sync_notes = $9, from_email = $10, updated_at = now()
            WHERE id = $1
            """,
            integration_id,
            *_columns(settings),
        )
        await notify(self._conn, TARGETS_CHANNEL, integration_id)

    async def api_token_ciphertext(self, integration_id: UUID) -> bytes | None:
        value = await self._conn.fetchval(
            "SELECT api_token_ciphertext FROM integrations WHERE id = $1", integration_id
        )
        return bytes(value) if value is not None else None

    async def delete(self, *, org_id: UUID, integration_id: UUID) -> bool:
        """Mark the integration deleted and wipe its secrets; False if there was none."""
        deleted = await self._conn.fetchval(
            """
            UPDATE integrations
            SET deleted_at = now(), updated_at = now(), api_token_ciphertext = NULL
            WHERE id = $1 AND org_id = $2 AND deleted_at IS NULL
            RETURNING id
            """,
            integration_id,
            org_id,
        )
        if deleted is None:
            return False
        await self.retire_secrets(integration_id=integration_id, secret_ids=None)
        return True

    async def add_secret(self, *, integration_id: UUID, secret_id: UUID, ciphertext: bytes) -> None:
        await self._conn.execute(
            "INSERT INTO signing_secrets (id, integration_id, ciphertext) VALUES ($1, $2, $3)",
            secret_id,
            integration_id,
            ciphertext,
        )
        await notify(self._conn, TARGETS_CHANNEL, integration_id)

    async def retire_secrets(
        self, *, integration_id: UUID, secret_ids: Collection[UUID] | None
    ) -> None:
        """Retire the given active secrets (all when None); their ciphertext is wiped."""
        await self._conn.execute(
            """
            UPDATE signing_secrets SET retired_at = now(), ciphertext = NULL
            WHERE integration_id = $1 AND retired_at IS NULL
              AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
            """,
            integration_id,
            list(secret_ids) if secret_ids is not None else None,
        )
        await notify(self._conn, TARGETS_CHANNEL, integration_id)

    async def active_secrets(self, integration_id: UUID) -> list[SealedSecret]:
        rows = await self._conn.fetch(
            """
            SELECT id, ciphertext FROM signing_secrets
            WHERE integration_id = $1 AND retired_at IS NULL
            ORDER BY created_at, id
            """,
            integration_id,
        )
        return [SealedSecret(id=row["id"], ciphertext=bytes(row["ciphertext"])) for row in rows]

    async def webhook_target(self, integration_id: UUID) -> WebhookTarget | None:
        """The live integration with its active secrets, in one round trip."""
        row = await self._conn.fetchrow(
            """
            SELECT i.id, i.org_id, i.default_severity, i.default_incident_type,
                   i.priority_severities,
                   i.api_token_ciphertext IS NULL AND NOT i.sync_to_pagerduty
                       AS publishes_on_receipt,
                   COALESCE(array_agg(s.id ORDER BY s.created_at, s.id)
                            FILTER (WHERE s.id IS NOT NULL), '{}') AS secret_ids,
                   COALESCE(array_agg(s.ciphertext ORDER BY s.created_at, s.id)
                            FILTER (WHERE s.id IS NOT NULL), '{}') AS ciphertexts
            FROM integrations i
            LEFT JOIN signing_secrets s ON s.integration_id = i.id AND s.retired_at IS NULL
            WHERE i.id = $1 AND i.deleted_at IS NULL
            GROUP BY i.id
            """,
            integration_id,
        )
        if row is None:
            return None
        return WebhookTarget(
            id=row["id"],
            org_id=row["org_id"],
            default_severity=row["default_severity"],
            default_incident_type=row["default_incident_type"],
            secrets=tuple(
                SealedSecret(id=secret_id, ciphertext=bytes(blob))
                for secret_id, blob in zip(row["secret_ids"], row["ciphertexts"], strict=True)
            ),
            publishes_on_receipt=row["publishes_on_receipt"],
            priority_severities=row["priority_severities"],
        )

    async def credentials(self, integration_id: UUID) -> SealedCredentials | None:
        """REST settings of the integration, even deleted: its accepted deliveries still go out."""
        row = await self._conn.fetchrow(
            """
            SELECT pagerduty_api_url, api_token_ciphertext, priority_severities,
                   sync_to_pagerduty, sync_notes, from_email
            FROM integrations WHERE id = $1
            """,
            integration_id,
        )
        if row is None:
            return None
        blob = row["api_token_ciphertext"]
        return SealedCredentials(
            integration_id=integration_id,
            base_url=row["pagerduty_api_url"],
            token_ciphertext=bytes(blob) if blob is not None else None,
            priority_severities=row["priority_severities"],
            write_back=_write_back(row),
        )


def _integration(row: Record) -> Integration:
    secrets = tuple(
        SecretInfo(id=secret_id, created_at=created)
        for secret_id, created in zip(row["secret_ids"], row["secret_created"], strict=True)
    )
    return Integration(
        id=row["id"],
        org_id=row["org_id"],
        name=row["name"],
        pagerduty_api_url=row["pagerduty_api_url"],
        has_api_token=row["has_token"],
        default_severity=row["default_severity"],
        default_incident_type=row["default_incident_type"],
        secrets=secrets,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        priority_severities=row["priority_severities"],
        write_back=_write_back(row),
    )


def _write_back(row: Record) -> WriteBack:
    return WriteBack(
        sync_to_pagerduty=row["sync_to_pagerduty"],
        sync_notes=row["sync_notes"],
        from_email=row["from_email"],
    )


def _columns(settings: IntegrationSettings) -> tuple[object, ...]:
    """The settings in the column order both statements above use."""
    return (
        settings.name,
        settings.pagerduty_api_url,
        settings.api_token_ciphertext,
        settings.default_severity,
        settings.default_incident_type,
        # A dict: the pool's codec (fireline_runtime.db) encodes jsonb.
        dict(settings.priority_severities),
        settings.write_back.sync_to_pagerduty,
        settings.write_back.sync_notes,
        settings.write_back.from_email,
    )
