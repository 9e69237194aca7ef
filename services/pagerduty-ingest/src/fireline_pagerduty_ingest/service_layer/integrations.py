"""Use cases of the integrations API: create, list, get, update and delete."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from fireline_pagerduty_ingest.domain.errors import IntegrationNotFound
from fireline_pagerduty_ingest.domain.integration import (
    KEEP,
    OFF,
    Integration,
    IntegrationChanges,
    IntegrationSettings,
    SecretPlan,
    WriteBack,
    clean_api_token,
    clean_api_url,
    clean_label,
    clean_name,
    clean_priority_severities,
    clean_write_back,
    plan_initial_secrets,
    plan_secret_change,
)
from fireline_pagerduty_ingest.domain.sealing import api_token_context, signing_secret_context
from fireline_pagerduty_ingest.service_layer import integration_events as events
from fireline_pagerduty_ingest.service_layer.unit_of_work import (
    IntegrationRepository,
    UnitOfWork,
)
from fireline_runtime.secret_box import SecretBox


@dataclass(frozen=True)
class SavedIntegration:
    """An integration after a create or update, with the secret Fireline generated, if any."""

    integration: Integration
    generated_secret: str | None


async def create_integration(
    *,
    uow: UnitOfWork,
    box: SecretBox,
    org_id: UUID,
    name: str,
    signing_secrets: Sequence[str] | None,
    pagerduty_api_token: str | None,
    pagerduty_api_url: str,
    allowed_api_hosts: Collection[str],
    default_severity: str | None,
    default_incident_type: str | None,
    priority_severities: Mapping[str, str] | None = None,
    write_back: WriteBack = OFF,
    by: UUID | None = None,
) -> SavedIntegration:
    """Create an integration; generate a signing secret when none is given, and start with the
    default priority → severity map when none is given.

    ``by`` (here and below) is the API key that made the change, for the audit log.
    """
    integration_id = uuid.uuid4()
    cleaned_name = clean_name(name)
    api_url = clean_api_url(pagerduty_api_url, allowed_hosts=allowed_api_hosts)
    token = clean_api_token(pagerduty_api_token)
    severity = clean_label(default_severity, "default_severity")
    incident_type = clean_label(default_incident_type, "default_incident_type")
    severities = clean_priority_severities(priority_severities)
    back = clean_write_back(
        sync_to_pagerduty=write_back.sync_to_pagerduty,
        sync_notes=write_back.sync_notes,
        from_email=write_back.from_email,
        has_api_token=token is not None,
    )
    plan = plan_initial_secrets(signing_secrets)
    async with uow:
        repo = uow.integrations
        settings = IntegrationSettings(
            name=cleaned_name,
            pagerduty_api_url=api_url,
            api_token_ciphertext=_seal_token(box, integration_id, token),
            default_severity=severity,
            default_incident_type=incident_type,
            priority_severities=severities,
            write_back=back,
        )
        await repo.add(integration_id=integration_id, org_id=org_id, settings=settings)
        await _apply_secret_plan(repo, box, integration_id, plan)
        integration = await repo.get(org_id=org_id, integration_id=integration_id)
        assert integration is not None  # created in this very transaction
        await uow.publish(events.created(integration, by=by))
    return SavedIntegration(integration=integration, generated_secret=plan.generated)


async def list_integrations(*, uow: UnitOfWork, org_id: UUID) -> list[Integration]:
    """The org's live integrations, oldest first."""
    async with uow.reading():
        return await uow.integrations.of_org(org_id=org_id)


async def get_integration(*, uow: UnitOfWork, org_id: UUID, integration_id: UUID) -> Integration:
    """One of the org's integrations; IntegrationNotFound for another org's or a deleted one."""
    async with uow.reading():
        integration = await uow.integrations.get(org_id=org_id, integration_id=integration_id)
    if integration is None:
        raise IntegrationNotFound()
    return integration


async def update_integration(
    *,
    uow: UnitOfWork,
    box: SecretBox,
    org_id: UUID,
    integration_id: UUID,
    changes: IntegrationChanges,
    allowed_api_hosts: Collection[str],
    by: UUID | None = None,
) -> SavedIntegration:
    """Apply a partial update; secret changes keep one or two secrets active, never more."""
    # Checked before the transaction: a refused URL changes nothing and costs no row lock.
    new_api_url = (
        KEEP
        if changes.pagerduty_api_url is KEEP
        else clean_api_url(changes.pagerduty_api_url, allowed_hosts=allowed_api_hosts)
    )
    async with uow:
        repo = uow.integrations
        # The row lock serialises concurrent updates, so two rotations racing each other cannot
        # leave three secrets active.
        current = await repo.get(org_id=org_id, integration_id=integration_id, for_update=True)
        if current is None:
            raise IntegrationNotFound()
        plan = plan_secret_change(
            [secret.id for secret in current.secrets],
            retire=changes.retire_signing_secret_ids,
            add=[changes.add_signing_secret] if changes.add_signing_secret is not None else [],
            generate=changes.generate_signing_secret,
            replace_with=changes.signing_secrets,
        )
        token_ciphertext = await _updated_token(repo, box, current, changes)
        settings = IntegrationSettings(
            name=current.name if changes.name is KEEP else clean_name(changes.name),
            pagerduty_api_url=current.pagerduty_api_url if new_api_url is KEEP else new_api_url,
            api_token_ciphertext=token_ciphertext,
            default_severity=current.default_severity
            if changes.default_severity is KEEP
            else clean_label(changes.default_severity, "default_severity"),
            default_incident_type=current.default_incident_type
            if changes.default_incident_type is KEEP
            else clean_label(changes.default_incident_type, "default_incident_type"),
            priority_severities=current.priority_severities
            if changes.priority_severities is KEEP
            else clean_priority_severities(changes.priority_severities),
            write_back=_updated_write_back(current, changes, token_ciphertext is not None),
        )
        await repo.update(integration_id=integration_id, settings=settings)
        await _apply_secret_plan(repo, box, integration_id, plan)
        updated = await repo.get(org_id=org_id, integration_id=integration_id)
        assert updated is not None  # locked above, so still there
        if settings_changed := events.changed_settings(current, updated, changes):
            await uow.publish(events.changed(updated, settings=settings_changed, by=by))
        if plan.add or plan.retire:
            await uow.publish(
                events.secrets_rotated(
                    updated, added=len(plan.add), retired=len(plan.retire), by=by
                )
            )
    return SavedIntegration(integration=updated, generated_secret=plan.generated)


async def delete_integration(
    *, uow: UnitOfWork, org_id: UUID, integration_id: UUID, by: UUID | None = None
) -> None:
    """Delete the integration: its webhook URL answers 404 from now on and its secrets are wiped.

    Deliveries accepted before the deletion are still published: PagerDuty was told they were.
    """
    async with uow:
        # Read first: the event names the integration, and a deleted one can no longer be read.
        integration = await uow.integrations.get(org_id=org_id, integration_id=integration_id)
        if integration is None or not await uow.integrations.delete(
            org_id=org_id, integration_id=integration_id
        ):
            raise IntegrationNotFound()
        await uow.publish(events.deleted(integration, by=by))


def _updated_write_back(
    current: Integration, changes: IntegrationChanges, has_api_token: bool
) -> WriteBack:
    now = current.write_back
    return clean_write_back(
        sync_to_pagerduty=now.sync_to_pagerduty
        if changes.sync_to_pagerduty is KEEP
        else changes.sync_to_pagerduty,
        sync_notes=now.sync_notes if changes.sync_notes is KEEP else changes.sync_notes,
        from_email=now.from_email if changes.from_email is KEEP else changes.from_email,
        has_api_token=has_api_token,
    )


async def _updated_token(
    repo: IntegrationRepository, box: SecretBox, current: Integration, changes: IntegrationChanges
) -> bytes | None:
    if changes.pagerduty_api_token is KEEP:
        return await repo.api_token_ciphertext(current.id)
    return _seal_token(box, current.id, clean_api_token(changes.pagerduty_api_token))


def _seal_token(box: SecretBox, integration_id: UUID, token: str | None) -> bytes | None:
    if token is None:
        return None
    return box.seal_text(token, context=api_token_context(integration_id))


async def _apply_secret_plan(
    repo: IntegrationRepository, box: SecretBox, integration_id: UUID, plan: SecretPlan
) -> None:
    if plan.retire:
        await repo.retire_secrets(integration_id=integration_id, secret_ids=plan.retire)
    for value in plan.add:
        secret_id = uuid.uuid4()
        await repo.add_secret(
            integration_id=integration_id,
            secret_id=secret_id,
            ciphertext=box.seal_text(
                value, context=signing_secret_context(integration_id, secret_id)
            ),
        )
