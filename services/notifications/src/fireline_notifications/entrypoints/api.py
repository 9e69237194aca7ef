"""HTTP routes of the webhook endpoints API: transport in, command to a use case, transport out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from fireline_notifications.domain.commands import ChangeEndpoint, NewEndpoint
from fireline_notifications.domain.delivery import webhook_id
from fireline_notifications.domain.errors import DeliveryNotFound, EndpointNotFound
from fireline_notifications.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT
from fireline_notifications.entrypoints import schemas
from fireline_notifications.entrypoints.deps import Context, ReaderOrg, Uow, WriterKey, WriterOrg
from fireline_notifications.service_layer import deliveries, endpoints
from fireline_runtime.input_text import InputText

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])

_NO_STORE = {"Cache-Control": "no-store"}


def _now() -> datetime:
    return datetime.now(UTC)


def _id(raw: str, missing: type[Exception] = EndpointNotFound) -> UUID:
    # Not a UUID path type: a malformed id names nothing, the same 404 as another org's id.
    try:
        return UUID(raw)
    except ValueError:
        raise missing("No such item.") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.NewEndpointOut,
    summary="Subscribe an endpoint; the answer holds its signing secret, once",
)
async def create_endpoint(
    body: schemas.NewEndpoint, org: WriterOrg, key: WriterKey, uow: Uow, context: Context
) -> JSONResponse:
    command = NewEndpoint(
        org_id=org,
        url=body.url,
        description=body.description,
        event_types=tuple(body.event_types),
        format=body.format,
    )
    endpoint, secret = await endpoints.create_endpoint(
        uow=uow, command=command, urls=context.urls, now=_now(), by=key
    )
    document = schemas.EndpointOut.of(endpoint).model_dump(mode="json") | {"secret": secret}
    # The secret is in this body: no cache may keep it.
    return JSONResponse(document, status_code=status.HTTP_201_CREATED, headers=_NO_STORE)


@router.get("", summary="List the org's webhook endpoints")
async def list_endpoints(org: ReaderOrg, uow: Uow) -> schemas.EndpointList:
    found = await endpoints.list_endpoints(uow=uow, org_id=org)
    return schemas.EndpointList(items=[schemas.EndpointOut.of(e) for e in found])


@router.get("/{endpoint_id}", summary="Get a webhook endpoint")
async def get_endpoint(endpoint_id: str, org: ReaderOrg, uow: Uow) -> schemas.EndpointOut:
    endpoint = await endpoints.get_endpoint(uow=uow, org_id=org, endpoint_id=_id(endpoint_id))
    return schemas.EndpointOut.of(endpoint)


@router.patch("/{endpoint_id}", summary="Change an endpoint's URL, filter or enabled state")
async def change_endpoint(
    endpoint_id: str,
    body: schemas.EndpointChanges,
    org: WriterOrg,
    key: WriterKey,
    uow: Uow,
    context: Context,
) -> schemas.EndpointOut:
    command = ChangeEndpoint(
        org_id=org,
        endpoint_id=_id(endpoint_id),
        url=body.url,
        description=body.description,
        event_types=None if body.event_types is None else tuple(body.event_types),
        enabled=body.enabled,
    )
    endpoint = await endpoints.change_endpoint(
        uow=uow, command=command, urls=context.urls, now=_now(), by=key
    )
    if endpoint.enabled and body.enabled:
        context.wake_dispatcher()  # what waited while it was disabled is due now
    return schemas.EndpointOut.of(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an endpoint, its secrets and its delivery log",
)
async def delete_endpoint(endpoint_id: str, org: WriterOrg, key: WriterKey, uow: Uow) -> Response:
    await endpoints.delete_endpoint(uow=uow, org_id=org, endpoint_id=_id(endpoint_id), by=key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=schemas.RotatedSecretOut,
    summary="Give the endpoint a new signing secret; the old one signs too for 24 hours",
)
async def rotate_secret(endpoint_id: str, org: WriterOrg, key: WriterKey, uow: Uow) -> JSONResponse:
    secret, until = await endpoints.rotate_secret(
        uow=uow, org_id=org, endpoint_id=_id(endpoint_id), now=_now(), by=key
    )
    document = schemas.RotatedSecretOut(secret=secret, previous_secrets_valid_until=until)
    return JSONResponse(document.model_dump(mode="json"), headers=_NO_STORE)


@router.post(
    "/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send the endpoint a `webhook.test` event (see the delivery log for the outcome)",
)
async def send_test(
    endpoint_id: str, org: WriterOrg, uow: Uow, context: Context
) -> schemas.QueuedDeliveryOut:
    delivery = await endpoints.send_test(
        uow=uow, org_id=org, endpoint_id=_id(endpoint_id), now=_now()
    )
    context.wake_dispatcher()
    return schemas.QueuedDeliveryOut(delivery_id=delivery.id, webhook_id=webhook_id(delivery.id))


@router.get("/{endpoint_id}/deliveries", summary="The endpoint's delivery log, newest first")
async def list_deliveries(
    endpoint_id: str,
    org: ReaderOrg,
    uow: Uow,
    limit: Annotated[int, Query(ge=MIN_LIMIT, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[InputText | None, Query(max_length=512)] = None,
) -> schemas.AttemptList:
    page = await deliveries.list_attempts(
        uow=uow,
        org_id=org,
        endpoint_id=_id(endpoint_id),
        cursor=cursor or None,  # `cursor=` (empty) means the first page
        limit=limit,
    )
    return schemas.AttemptList.of(page)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again now, with its own webhook-id",
)
async def retry_delivery(
    endpoint_id: str, delivery_id: str, org: WriterOrg, uow: Uow, context: Context
) -> schemas.QueuedDeliveryOut:
    delivery = _id(delivery_id, DeliveryNotFound)
    await deliveries.retry_delivery(
        uow=uow, org_id=org, endpoint_id=_id(endpoint_id), delivery_id=delivery, now=_now()
    )
    context.wake_dispatcher()
    return schemas.QueuedDeliveryOut(delivery_id=delivery, webhook_id=webhook_id(delivery))
