"""Integrations API: `/v1/integrations/pagerduty` (Bearer token, `integrations:*` scopes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from fireline_pagerduty_ingest.domain.errors import IntegrationNotFound, InvalidIntegration
from fireline_pagerduty_ingest.domain.integration import KEEP, IntegrationChanges, WriteBack
from fireline_pagerduty_ingest.entrypoints.deps import (
    Context,
    ReadIntegrations,
    Uow,
    WriteIntegrations,
    key_of,
    org_of,
)
from fireline_pagerduty_ingest.entrypoints.schemas import (
    CreateIntegrationIn,
    IntegrationListOut,
    IntegrationOut,
    IntegrationWithSecretOut,
    UpdateIntegrationIn,
)
from fireline_pagerduty_ingest.service_layer import integrations as use_cases
from fireline_pagerduty_ingest.service_layer.context import IngestContext
from fireline_pagerduty_ingest.service_layer.integrations import SavedIntegration

router = APIRouter(prefix="/v1/integrations/pagerduty", tags=["integrations"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IntegrationWithSecretOut,
    summary="Create a PagerDuty integration",
)
async def create_integration(
    body: CreateIntegrationIn, principal: WriteIntegrations, context: Context, uow: Uow
) -> JSONResponse:
    saved = await use_cases.create_integration(
        uow=uow,
        box=context.box,
        org_id=org_of(principal),
        name=body.name,
        signing_secrets=body.signing_secrets,
        pagerduty_api_token=body.pagerduty_api_token,
        pagerduty_api_url=body.pagerduty_api_url or context.default_api_url,
        allowed_api_hosts=context.allowed_api_hosts,
        default_severity=body.default_severity,
        default_incident_type=body.default_incident_type,
        by=key_of(principal),
        priority_severities=body.priority_severities,
        write_back=WriteBack(
            sync_to_pagerduty=body.sync_to_pagerduty,
            sync_notes=body.sync_notes,
            from_email=body.from_email,
        ),
    )
    return _saved(context, saved, status.HTTP_201_CREATED)


@router.get("", response_model=IntegrationListOut, summary="List the org's PagerDuty integrations")
async def list_integrations(
    principal: ReadIntegrations, context: Context, uow: Uow
) -> IntegrationListOut:
    found = await use_cases.list_integrations(uow=uow, org_id=org_of(principal))
    return IntegrationListOut(
        items=[IntegrationOut.of(i, webhook_url=context.webhook_url(i.id)) for i in found]
    )


@router.get("/{integration_id}", response_model=IntegrationOut, summary="Get an integration")
async def get_integration(
    integration_id: str, principal: ReadIntegrations, context: Context, uow: Uow
) -> IntegrationOut:
    integration = await use_cases.get_integration(
        uow=uow, org_id=org_of(principal), integration_id=_id(integration_id)
    )
    return IntegrationOut.of(integration, webhook_url=context.webhook_url(integration.id))


@router.patch(
    "/{integration_id}",
    response_model=IntegrationWithSecretOut,
    summary="Update an integration or rotate its signing secrets",
)
async def update_integration(
    integration_id: str,
    body: UpdateIntegrationIn,
    principal: WriteIntegrations,
    context: Context,
    uow: Uow,
) -> JSONResponse:
    saved = await use_cases.update_integration(
        uow=uow,
        box=context.box,
        org_id=org_of(principal),
        integration_id=_id(integration_id),
        changes=_changes(body, default_api_url=context.default_api_url),
        allowed_api_hosts=context.allowed_api_hosts,
        by=key_of(principal),
    )
    return _saved(context, saved, status.HTTP_200_OK)


@router.delete(
    "/{integration_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an integration (its webhook URL answers 404 afterwards)",
)
async def delete_integration(
    integration_id: str, principal: WriteIntegrations, uow: Uow
) -> Response:
    await use_cases.delete_integration(
        uow=uow, org_id=org_of(principal), integration_id=_id(integration_id), by=key_of(principal)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _id(raw: str) -> UUID:
    # Not a UUID path type: a malformed id is simply an integration that does not exist (404),
    # the same answer as another org's id, so ids cannot be probed by shape.
    try:
        return UUID(raw)
    except ValueError:
        raise IntegrationNotFound() from None


def _changes(body: UpdateIntegrationIn, *, default_api_url: str) -> IntegrationChanges:
    given: Mapping[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    for flag in ("name", "sync_to_pagerduty", "sync_notes"):
        if flag in given and given[flag] is None:
            raise InvalidIntegration(f"{flag} cannot be null")
    api_url = given.get("pagerduty_api_url", KEEP)
    return IntegrationChanges(
        name=given.get("name", KEEP),
        # null restores the service's default rather than leaving no URL at all.
        pagerduty_api_url=default_api_url if api_url is None else api_url,
        pagerduty_api_token=given.get("pagerduty_api_token", KEEP),
        default_severity=given.get("default_severity", KEEP),
        default_incident_type=given.get("default_incident_type", KEEP),
        priority_severities=given.get("priority_severities", KEEP),
        sync_to_pagerduty=given.get("sync_to_pagerduty", KEEP),
        sync_notes=given.get("sync_notes", KEEP),
        from_email=given.get("from_email", KEEP),
        signing_secrets=tuple(body.signing_secrets) if body.signing_secrets is not None else None,
        add_signing_secret=body.add_signing_secret,
        generate_signing_secret=body.generate_signing_secret,
        retire_signing_secret_ids=tuple(body.retire_signing_secret_ids),
    )


def _saved(context: IngestContext, saved: SavedIntegration, status_code: int) -> JSONResponse:
    integration = saved.integration
    view = IntegrationOut.of(integration, webhook_url=context.webhook_url(integration.id))
    document = view.model_dump(mode="json")
    if saved.generated_secret is not None:
        document["signing_secret"] = saved.generated_secret
    # The generated secret is in this body: no cache may keep it.
    return JSONResponse(document, status_code=status_code, headers={"Cache-Control": "no-store"})
