"""asyncpg repositories: all SQL of the ingest service lives here."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from fireline_pagerduty_ingest.domain.delivery import DeliveryStatus
from fireline_pagerduty_ingest.domain.integration import Integration, SecretInfo
from fireline_runtime.db import Connection, Record
from fireline_runtime.notify_cache import notify

TARGETS_CHANNEL = "fireline_ingest_webhook_targets"
"""Every change to what ``webhook_target`` returns notifies this channel with the integration id,
so each replica drops its cached copy (``adapters.target_cache``)."""

_INTEGRATION_COLUMNS = """
    i.id, i.org_id, i.name, i.pagerduty_api_url, i.api_token_ciphertext IS NOT NULL AS has_token,
    i.default_severity, i.default_incident_type, i.created_at, i.updated_at,
    COALESCE(
        (SELECT array_agg(s.id ORDER BY s.created_at, s.id) FROM signing_secrets s
         WHERE s.integration_id = i.id AND s.retired_at IS NULL), '{}') AS secret_ids,
    COALESCE(
        (SELECT array_agg(s.created_at ORDER BY s.created_at, s.id) FROM signing_secrets s
         WHERE s.integration_id = i.id AND s.retired_at IS NULL), '{}') AS secret_created
"""


@dataclass(frozen=True)
class SealedSecret:
    """An active signing secret, still encrypted."""

    id: UUID
    ciphertext: bytes


@dataclass(frozen=True)
class WebhookTarget:
    """What the receiver needs to check and file a delivery for one integration."""

    id: UUID
    org_id: UUID
    default_severity: str | None
    default_incident_type: str | None
    secrets: tuple[SealedSecret, ...]


@dataclass(frozen=True)
class NewDelivery:
    """A verified delivery as the receiver stores it."""

    integration_id: UUID
    org_id: UUID
    dedupe_key: str
    event_id: str
    event_type: str
    incident_id: str | None
    status: DeliveryStatus
    body: bytes
    incident_type: str | None
    severity: str | None
    correlation_id: str | None
    traceparent: str | None = None

    def __repr__(self) -> str:
        return f"NewDelivery(integration={self.integration_id}, key={self.dedupe_key!r})"


@dataclass(frozen=True)
class SealedCredentials:
    """An integration's REST settings with the token still encrypted (None: no token)."""

    integration_id: UUID
    base_url: str
    token_ciphertext: bytes | None


@dataclass(frozen=True)
class ClaimedDelivery:
    """A pending delivery this worker holds a lease on."""

    id: int
    integration_id: UUID
    org_id: UUID
    dedupe_key: str
    body: bytes
    incident_type: str | None
    severity: str | None
    correlation_id: str | None
    attempts: int
    received_at: datetime
    traceparent: str | None


class IntegrationRepository:
    """Integrations and their signing secrets."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        integration_id: UUID,
        org_id: UUID,
        name: str,
        pagerduty_api_url: str,
        api_token_ciphertext: bytes | None,
        default_severity: str | None,
        default_incident_type: str | None,
    ) -> None:
        await self._conn.execute(
            """
            INSERT INTO integrations (id, org_id, name, pagerduty_api_url, api_token_ciphertext,
                                      default_severity, default_incident_type)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            integration_id,
            org_id,
            name,
            pagerduty_api_url,
            api_token_ciphertext,
            default_severity,
            default_incident_type,
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

    async def update(
        self,
        *,
        integration_id: UUID,
        name: str,
        pagerduty_api_url: str,
        api_token_ciphertext: bytes | None,
        default_severity: str | None,
        default_incident_type: str | None,
    ) -> None:
        await self._conn.execute(
            """
            UPDATE integrations
            SET name = $2, pagerduty_api_url = $3, api_token_ciphertext = $4,
                default_severity = $5, default_incident_type = $6, updated_at = now()
            WHERE id = $1
            """,
            integration_id,
            name,
            pagerduty_api_url,
            api_token_ciphertext,
            default_severity,
            default_incident_type,
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
        )

    async def credentials(self, integration_id: UUID) -> SealedCredentials | None:
        """REST settings of the integration, even deleted: its accepted deliveries still go out."""
        row = await self._conn.fetchrow(
            "SELECT pagerduty_api_url, api_token_ciphertext FROM integrations WHERE id = $1",
            integration_id,
        )
        if row is None:
            return None
        blob = row["api_token_ciphertext"]
        return SealedCredentials(
            integration_id=integration_id,
            base_url=row["pagerduty_api_url"],
            token_ciphertext=bytes(blob) if blob is not None else None,
        )


class DeliveryRepository:
    """Webhook deliveries: the durable record the receiver writes and the worker drains."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, delivery: NewDelivery) -> int | None:
        """Store a delivery; None when one with the same dedupe key is already stored."""
        return (await self.add_many([delivery]))[0]

    async def add_many(self, deliveries: Sequence[NewDelivery]) -> list[int | None]:
        """Store deliveries in one statement, in order; each one's id, or None if a duplicate.

        A dedupe key repeated within ``deliveries`` is stored once, for its first occurrence.
        """
        rows = await self._conn.fetch(
            """
            INSERT INTO deliveries (integration_id, org_id, dedupe_key, event_id, event_type,
                                    incident_id, status, body, incident_type, severity,
                                    correlation_id, traceparent, processed_at)
            SELECT integration_id, org_id, dedupe_key, event_id, event_type, incident_id, status,
                   body, incident_type, severity, correlation_id, traceparent,
                   CASE WHEN status = 'ignored' THEN now() END
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                        $7::text[], $8::bytea[], $9::text[], $10::text[], $11::text[],
                        $12::text[])
                 WITH ORDINALITY AS t(integration_id, org_id, dedupe_key, event_id, event_type,
                                      incident_id, status, body, incident_type, severity,
                                      correlation_id, traceparent, position)
            -- Ids follow arrival order, which the worker's per-incident ordering relies on.
            ORDER BY position
            ON CONFLICT ON CONSTRAINT deliveries_dedupe DO NOTHING
            RETURNING id, integration_id, dedupe_key
            """,
            [d.integration_id for d in deliveries],
            [d.org_id for d in deliveries],
            [d.dedupe_key for d in deliveries],
            [d.event_id for d in deliveries],
            [d.event_type for d in deliveries],
            [d.incident_id for d in deliveries],
            [d.status for d in deliveries],
            [d.body for d in deliveries],
            [d.incident_type for d in deliveries],
            [d.severity for d in deliveries],
            [d.correlation_id for d in deliveries],
            [d.traceparent for d in deliveries],
        )
        stored = {(row["integration_id"], row["dedupe_key"]): row["id"] for row in rows}
        return [stored.pop((d.integration_id, d.dedupe_key), None) for d in deliveries]

    async def status_of(self, *, integration_id: UUID, dedupe_key: str) -> DeliveryStatus | None:
        status: DeliveryStatus | None = await self._conn.fetchval(
            "SELECT status FROM deliveries WHERE integration_id = $1 AND dedupe_key = $2",
            integration_id,
            dedupe_key,
        )
        return status

    async def claim(self, *, limit: int, claim_id: UUID, lease_s: float) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` pending deliveries, at most one per PagerDuty incident.

        Only the oldest pending delivery of each incident can be claimed: a later one waits until
        the earlier one is published (or failed), which keeps each incident's alerts in the order
        PagerDuty sent them, across workers and restarts. A lease that expires (its worker died)
        makes the delivery claimable again.
        """
        rows = await self._conn.fetch(
            """
            WITH candidates AS (
                SELECT d.id FROM deliveries d
                WHERE d.status = 'received'
                  AND (d.lease_until IS NULL OR d.lease_until < now())
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries earlier
                      WHERE earlier.status = 'received'
                        AND earlier.incident_id = d.incident_id
                        AND earlier.id < d.id)
                ORDER BY d.id
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            )
            UPDATE deliveries d
            SET claim_id = $2, lease_until = now() + make_interval(secs => $3),
                attempts = d.attempts + 1
            FROM candidates c
            WHERE d.id = c.id
            RETURNING d.id, d.integration_id, d.org_id, d.dedupe_key, d.body, d.incident_type,
                      d.severity, d.correlation_id, d.attempts, d.received_at, d.traceparent
            """,
            limit,
            claim_id,
            lease_s,
        )
        return sorted((_claimed(row) for row in rows), key=lambda d: d.id)

    async def lock_claim(self, *, delivery_id: int, claim_id: UUID) -> bool:
        """Lock the delivery if this claim still holds it (no other worker took it over)."""
        found = await self._conn.fetchval(
            """
            SELECT id FROM deliveries
            WHERE id = $1 AND claim_id = $2 AND status = 'received' FOR UPDATE
            """,
            delivery_id,
            claim_id,
        )
        return found is not None

    async def mark_published(self, *, delivery_id: int, enrichment_status: str) -> None:
        await self._conn.execute(
            """
            UPDATE deliveries
            SET status = 'published', enrichment_status = $2, processed_at = now(),
                lease_until = NULL, last_error = NULL
            WHERE id = $1
            """,
            delivery_id,
            enrichment_status,
        )

    async def release(
        self,
        *,
        delivery_id: int,
        claim_id: UUID,
        error: str,
        retry_in_s: float,
        give_up: bool,
    ) -> None:
        """Give a failed delivery back for a later retry, or mark it failed for good."""
        await self._conn.execute(
            """
            UPDATE deliveries
            SET last_error = $3,
                lease_until = CASE WHEN $5 THEN NULL ELSE now() + make_interval(secs => $4) END,
                status = CASE WHEN $5 THEN 'failed' ELSE status END,
                processed_at = CASE WHEN $5 THEN now() ELSE processed_at END,
                claim_id = NULL
            WHERE id = $1 AND claim_id = $2 AND status = 'received'
            """,
            delivery_id,
            claim_id,
            error[:500],
            retry_in_s,
            give_up,
        )

    async def delete_finished(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that finished before the cutoff; how many went.

        Pending deliveries (``received``) are never touched, whatever their age. A finished
        delivery was received no later than it finished, so its dedupe key is older than the
        cutoff too. Rows another transaction holds are skipped, not waited for.
        """
        result = await self._conn.execute(
            """
            DELETE FROM deliveries WHERE id IN (
                SELECT id FROM deliveries
                WHERE status <> 'received' AND processed_at < $1 AND received_at < $1
                ORDER BY processed_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
            """,
            finished_before,
            limit,
        )
        # asyncpg returns the command tag, e.g. "DELETE 42".
        return int(result.rsplit(" ", 1)[-1])


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
    )


def _claimed(row: Record) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=row["id"],
        integration_id=row["integration_id"],
        org_id=row["org_id"],
        dedupe_key=row["dedupe_key"],
        body=bytes(row["body"]),
        incident_type=row["incident_type"],
        severity=row["severity"],
        correlation_id=row["correlation_id"],
        attempts=row["attempts"],
        received_at=row["received_at"],
        traceparent=row["traceparent"],
    )
