"""The audit log API: admins read their org's log a page at a time, or export it as JSON Lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from fireline_identity.domain.audit import AuditFilter, page_size
from fireline_identity.entrypoints.deps import Context, CurrentUser
from fireline_identity.entrypoints.schemas import AuditEventOut, AuditEventPage
from fireline_identity.service_layer import audit
from fireline_runtime.openapi import problem_responses
from fireline_runtime.time_params import Rfc3339Instant

router = APIRouter(
    prefix="/v1/audit-events", tags=["audit"], responses=problem_responses(401, 403, 422)
)


async def audit_filter(
    actor: Annotated[
        str | None,
        Query(description="A user or key id, or `secret_scanner` or `system`."),
    ] = None,
    action: Annotated[str | None, Query(description="An action, e.g. `key.revoked`.")] = None,
    target: Annotated[
        str | None, Query(description="Id of the key, user, session or integration.")
    ] = None,
    # Aware only: a time without an offset names a different instant for every reader.
    since: Annotated[
        Rfc3339Instant | None,
        Query(description="Entries at or after this instant (RFC 3339, with offset)."),
    ] = None,
    until: Annotated[
        Rfc3339Instant | None,
        Query(description="Entries before this instant (RFC 3339, with offset)."),
    ] = None,
) -> AuditFilter:
    return AuditFilter.parse(actor=actor, action=action, target=target, since=since, until=until)


Filter = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("", summary="Your org's audit log, newest first (admins only)")
async def list_audit_events(
    actor: CurrentUser,
    context: Context,
    where: Filter,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int | None, Query(description="Entries per page, 1-200 (default 50).")] = None,
) -> AuditEventPage:
    page = await audit.read_page(
        uow=context.uow(), actor=actor, where=where, cursor=cursor, limit=page_size(limit)
    )
    return AuditEventPage(
        items=[AuditEventOut.of(e) for e in page.entries], next_cursor=page.next_cursor
    )


@router.get(
    "/export",
    summary="Export your org's audit log as JSON Lines, newest first (admins only)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {}}}},
)
async def export_audit_events(
    actor: CurrentUser, context: Context, where: Filter
) -> StreamingResponse:
    entries = await audit.export(uow_factory=context.uow, actor=actor, where=where)

    async def lines() -> AsyncIterator[bytes]:
        async for entry in entries:
            yield AuditEventOut.of(entry).model_dump_json().encode() + b"\n"

    return StreamingResponse(
        lines(),
        media_type="application/jsonl",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.jsonl"',
            "Cache-Control": "no-store",
        },
    )
