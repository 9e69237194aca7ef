"""Where secret scanners report leaked keys: GitHub's secret scanning partner format.

The signature covers the raw body, so the body is read as bytes (bounded) and handed over before
anything parses it. No session and no Origin check: the scanner is a server, the signature its
credential.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from fireline_identity.domain.errors import ReportTooLarge
from fireline_identity.domain.secret_scanning import MAX_REPORT_BYTES, MAX_REPORT_TOKENS
from fireline_identity.entrypoints.deps import Context
from fireline_identity.service_layer.secret_scanning import handle_report
from fireline_runtime.http_body import read_at_most
from fireline_runtime.openapi import problem_responses

router = APIRouter(
    prefix="/v1/secret-scanning",
    tags=["secret-scanning"],
    responses=problem_responses(400, 401, 413),
)


class TokenLabel(BaseModel):
    token_raw: str
    token_type: str
    label: Literal["true_positive", "false_positive"]


# The body is read raw (the signature covers its exact bytes), so FastAPI cannot derive its schema.
_REPORT_SCHEMA = {
    "type": "array",
    "maxItems": MAX_REPORT_TOKENS,
    "items": {
        "type": "object",
        "required": ["token", "type"],
        "properties": {
            "token": {"type": "string", "description": "What the scanner found."},
            "type": {"type": "string", "description": "The scanner's name for the pattern."},
            "url": {"type": "string", "description": "Where it was found."},
            "source": {"type": "string", "description": "What kind of place (content, commit)."},
        },
    },
}


@router.post(
    "/github",
    summary="Report leaked API keys (GitHub secret scanning partner format)",
    description="A JSON array of `{token, type, url, source}` signed with ECDSA P-256 / SHA-256 "
    "over the raw body (`GITHUB-PUBLIC-KEY-IDENTIFIER`, `GITHUB-PUBLIC-KEY-SIGNATURE`), verified "
    "against the keys in `FIRELINE_SECRET_SCANNING_KEYS_FILE`. Every key whose secret still worked "
    "is revoked at once (reason `leaked`). The answer labels each token `true_positive` (a key "
    "Fireline issued) or `false_positive`. Tokens match `\\bflk_[0-9A-Za-z]{33}\\b`.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _REPORT_SCHEMA}},
        }
    },
)
async def report_github(
    request: Request,
    context: Context,
    key_identifier: Annotated[str | None, Header(alias="GITHUB-PUBLIC-KEY-IDENTIFIER")] = None,
    signature: Annotated[str | None, Header(alias="GITHUB-PUBLIC-KEY-SIGNATURE")] = None,
) -> list[TokenLabel]:
    body = await read_at_most(request, MAX_REPORT_BYTES)
    if body is None:
        raise ReportTooLarge(f"a report may be at most {MAX_REPORT_BYTES // 1024} KB")
    verdicts = await handle_report(
        uow=context.uow(),
        verifier=context.scanning_keys,
        body=body,
        key_identifier=key_identifier,
        signature=signature,
    )
    return [
        TokenLabel(token_raw=v.token.token, token_type=v.token.type, label=v.label.value)
        for v in verdicts
    ]
