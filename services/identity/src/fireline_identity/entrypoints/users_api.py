"""The users API (admins only): create, list, rename, change email or role, deactivate."""

from __future__ import annotations

from fastapi import APIRouter, status

from fireline_identity.entrypoints.deps import Context, CurrentUser, parse_id
from fireline_identity.entrypoints.schemas import (
    UserCreateRequest,
    UserList,
    UserPatchRequest,
    UserResponse,
)
from fireline_identity.service_layer import users
from fireline_runtime.openapi import problem_responses

router = APIRouter(prefix="/v1/users", tags=["users"], responses=problem_responses(401, 403, 409))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a user to your org")
async def create_user(
    body: UserCreateRequest, actor: CurrentUser, context: Context
) -> UserResponse:
    user = await users.create_user(
        uow=context.uow(),
        hasher=context.hasher,
        actor=actor,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
    )
    return UserResponse.of(user)


@router.get("", summary="Users of your org")
async def list_users(actor: CurrentUser, context: Context) -> UserList:
    found = await users.list_users(uow=context.uow(), actor=actor)
    return UserList(items=[UserResponse.of(u) for u in found])


@router.patch("/{user_id}", summary="Rename, change email or role, (de)activate a user")
async def update_user(
    user_id: str, body: UserPatchRequest, actor: CurrentUser, context: Context
) -> UserResponse:
    user = await users.update_user(
        uow=context.uow(),
        actor=actor,
        user_id=parse_id(user_id, "user"),
        name=body.name,
        email=body.email,
        role=body.role,
        active=body.active,
    )
    return UserResponse.of(user)
