"""Use cases of the endpoints API: create, read, change, delete, rotate the secret, test."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from fireline_notifications.domain import catalogue
from fireline_notifications.domain.commands import ChangeEndpoint, NewEndpoint
from fireline_notifications.domain.delivery import Delivery
from fireline_notifications.domain.endpoint import (
    MAX_DESCRIPTION,
    MAX_EVENT_TYPES,
    ROTATION_OVERLAP,
    Endpoint,
    SigningSecret,
    new_secret,
)
from fireline_notifications.domain.errors import (
    EndpointDisabled,
    EndpointNotFound,
    InvalidEndpoint,
)
from fireline_notifications.domain.message import test_body
from fireline_notifications.service_layer import endpoint_events
from fireline_notifications.service_layer.unit_of_work import UnitOfWork
from fireline_notifications.service_layer.urls import UrlPolicy


def _event_types(types: tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(types) - set(catalogue.EVENT_TYPES))
    if unknown:
        raise InvalidEndpoint(
            f"Unknown event types: {', '.join(unknown)}; known: {', '.join(catalogue.EVENT_TYPES)}."
        )
    if len(types) > MAX_EVENT_TYPES:
        raise InvalidEndpoint(f"At most {MAX_EVENT_TYPES} event types.")
    return tuple(dict.fromkeys(types))  # order kept, repeats dropped


def _description(text: str) -> str:
    if len(text) > MAX_DESCRIPTION:
        raise InvalidEndpoint(f"The description is longer than {MAX_DESCRIPTION} characters.")
    return text


async def create_endpoint(
    *,
    uow: UnitOfWork,
    command: NewEndpoint,
    urls: UrlPolicy,
    now: datetime,
    by: UUID | None = None,
) -> tuple[Endpoint, str]:
    """The new endpoint and its signing secret (shown to the caller this once)."""
    event_types = _event_types(command.event_types)
    description = _description(command.description)
    await urls.check(command.url)
    endpoint = Endpoint(
        id=uuid.uuid4(),
        org_id=command.org_id,
        url=command.url,
        description=description,
        event_types=event_types,
        format=command.format,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    secret = SigningSecret(id=uuid.uuid4(), secret=new_secret(), created_at=now)
    async with uow:
        await uow.endpoints.add(endpoint, secret)
        await uow.publish(endpoint_events.created(endpoint, by))
    return endpoint, secret.secret


async def list_endpoints(*, uow: UnitOfWork, org_id: UUID) -> list[Endpoint]:
    async with uow.reading():
        return await uow.endpoints.of_org(org_id)


async def get_endpoint(*, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID) -> Endpoint:
    async with uow.reading():
        endpoint = await uow.endpoints.get(org_id, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound("No such webhook endpoint.")
    return endpoint


async def change_endpoint(
    *,
    uow: UnitOfWork,
    command: ChangeEndpoint,
    urls: UrlPolicy,
    now: datetime,
    by: UUID | None = None,
) -> Endpoint:
    event_types = None if command.event_types is None else _event_types(command.event_types)
    description = None if command.description is None else _description(command.description)
    if command.url is not None:
        await urls.check(command.url)
    async with uow:
        endpoint = await uow.endpoints.get(command.org_id, command.endpoint_id, for_update=True)
        if endpoint is None:
            raise EndpointNotFound("No such webhook endpoint.")
        changed = replace(
            endpoint,
            url=endpoint.url if command.url is None else command.url,
            description=endpoint.description if description is None else description,
            event_types=endpoint.event_types if event_types is None else event_types,
            updated_at=now,
        )
        if command.enabled is True and not endpoint.enabled:
            changed = changed.enabled_again(now)
        elif command.enabled is False and endpoint.enabled:
            changed = changed.disabled("admin", now)
        await uow.endpoints.save(changed)
        event = endpoint_events.changed(endpoint, changed, by)
        if event is not None:
            await uow.publish(event)
    return changed


async def delete_endpoint(
    *, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID, by: UUID | None = None
) -> None:
    async with uow:
        endpoint = await uow.endpoints.get(org_id, endpoint_id, for_update=True)
        if endpoint is None or not await uow.endpoints.delete(org_id, endpoint_id):
            raise EndpointNotFound("No such webhook endpoint.")
        await uow.publish(endpoint_events.deleted(endpoint, by))


async def rotate_secret(
    *, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID, now: datetime, by: UUID | None = None
) -> tuple[str, datetime]:
    """The new secret, and until when the secrets it replaces keep signing beside it."""
    secret = SigningSecret(id=uuid.uuid4(), secret=new_secret(), created_at=now)
    until = now + ROTATION_OVERLAP
    async with uow:
        endpoint = await uow.endpoints.get(org_id, endpoint_id, for_update=True)
        if endpoint is None:
            raise EndpointNotFound("No such webhook endpoint.")
        await uow.endpoints.expire_secrets(endpoint_id, until)
        await uow.endpoints.add_secret(endpoint_id, secret)
        await uow.publish(endpoint_events.secret_rotated(endpoint, by))
    return secret.secret, until


async def send_test(*, uow: UnitOfWork, org_id: UUID, endpoint_id: UUID, now: datetime) -> Delivery:
    """Queue a ``webhook.test`` delivery to the endpoint; the dispatcher sends it."""
    async with uow:
        endpoint = await uow.endpoints.get(org_id, endpoint_id)
        if endpoint is None:
            raise EndpointNotFound("No such webhook endpoint.")
        if not endpoint.enabled:
            raise EndpointDisabled("The endpoint is disabled; enable it first.")
        delivery = Delivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            org_id=org_id,
            event_type=catalogue.TEST_EVENT_TYPE,
            body=test_body(endpoint.format, endpoint.id, now),
            state="pending",
            attempts=0,
            schedule_step=0,
            created_at=now,
            next_attempt_at=now,
        )
        await uow.deliveries.add(delivery)
    return delivery
