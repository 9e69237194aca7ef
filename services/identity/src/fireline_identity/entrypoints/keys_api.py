"""The API keys API: admins create, rename, rotate and revoke; every member of the org may list."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from fireline_identity.entrypoints.deps import Context, CurrentUser, parse_id
from fireline_identity.entrypoints.schemas import (
    KeyCreatedResponse,
    KeyCreateRequest,
    KeyList,
    KeyRenameRequest,
    KeyResponse,
    KeyRotateRequest,
)
from fireline_identity.service_layer import keys
from fireline_runtime.openapi import problem_responses

router = APIRouter(
    prefix="/v1/api-keys", tags=["api-keys"], responses=problem_responses(401, 403, 409)
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    description="The secret (`key`) is in this response only. An org has at most 10 active "
    "keys; one more is a 409 `key_limit_reached`.",
)
async def create_key(
    body: KeyCreateRequest, actor: CurrentUser, context: Context, response: Response
) -> KeyCreatedResponse:
    created = await keys.create_key(
        uow=context.uow(),
        actor=actor,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    response.headers["Cache-Control"] = "no-store"
    return KeyCreatedResponse.of(created)


@router.get("", summary="Your org's API keys (active only unless include_revoked=true)")
async def list_keys(actor: CurrentUser, context: Context, include_revoked: bool = False) -> KeyList:
    found = await keys.list_keys(uow=context.uow(), actor=actor, include_revoked=include_revoked)
    return KeyList(items=[KeyResponse.of(k) for k in found])


@router.patch("/{key_id}", summary="Rename an API key")
async def rename_key(
    key_id: str, body: KeyRenameRequest, actor: CurrentUser, context: Context
) -> KeyResponse:
    listing = await keys.rename_key(
        uow=context.uow(), actor=actor, key_id=parse_id(key_id, "API key"), name=body.name
    )
    return KeyResponse.of(listing)


@router.post(
    "/{key_id}/rotate",
    summary="Give an API key a new secret",
    description="Same id, name, scopes and expiry; the new secret (`key`) is in this response "
    "only. The old secret keeps working for `grace_period_minutes` (0-1440, default 30), then is "
    "refused; rotating again during a grace period ends the older grace at once. Revoking the "
    "key ends both. Not counted against the key limit.",
)
async def rotate_key(
    key_id: str,
    actor: CurrentUser,
    context: Context,
    response: Response,
    body: KeyRotateRequest | None = None,
) -> KeyCreatedResponse:
    rotated = await keys.rotate_key(
        uow=context.uow(),
        actor=actor,
        key_id=parse_id(key_id, "API key"),
        grace_period_minutes=(body or KeyRotateRequest()).grace_period_minutes,
    )
    response.headers["Cache-Control"] = "no-store"
    return KeyCreatedResponse.of(rotated)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke an API key (the row stays for audit)",
)
async def revoke_key(key_id: str, actor: CurrentUser, context: Context) -> Response:
    await keys.revoke_key(uow=context.uow(), actor=actor, key_id=parse_id(key_id, "API key"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
