"""POST/DELETE /v1/session and GET /v1/me: human sessions with an HttpOnly cookie."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from fireline_identity.entrypoints.deps import ClientAddress, Context, CurrentUser, SessionToken
from fireline_identity.entrypoints.schemas import LoginRequest, MeResponse
from fireline_identity.service_layer import sessions
from fireline_runtime.openapi import problem_responses

router = APIRouter(prefix="/v1", tags=["session"], responses=problem_responses(403))

_NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/session",
    summary="Log in",
    description="Sets the session cookie. Any bad credential gives the same 401; repeated "
    "failures give 429 with Retry-After.",
    responses=problem_responses(401, 429),
)
async def log_in(
    body: LoginRequest, response: Response, context: Context, address: ClientAddress
) -> MeResponse:
    result = await sessions.log_in(
        uow=context.uow(),
        hasher=context.hasher,
        policy=context.policy,
        email=body.email,
        password=body.password,
        address=address,
    )
    response.set_cookie(
        context.cookie.name,
        result.token,
        max_age=int(context.policy.absolute_timeout.total_seconds()),
        path="/",
        secure=context.cookie.secure,
        httponly=True,
        samesite="strict",
    )
    response.headers.update(_NO_STORE)
    return MeResponse.of(result.user)


@router.delete(
    "/session", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, summary="Log out"
)
async def log_out(context: Context, token: SessionToken) -> Response:
    await sessions.log_out(uow=context.uow(), token=token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=_NO_STORE)
    response.delete_cookie(
        context.cookie.name,
        path="/",
        secure=context.cookie.secure,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/me", summary="The logged-in user", responses=problem_responses(401))
async def me(user: CurrentUser, response: Response) -> MeResponse:
    response.headers.update(_NO_STORE)
    return MeResponse.of(user)
