"""schemathesis against each service's OpenAPI: whatever a client sends, valid or not, the answer
is never a 5xx, and its status, content type and body are the ones the document declares.

Authenticated where the operation needs it (the admin's session for identity, a token with every
scope for incidents and ingest), so the fuzzer gets past authentication into the handlers. Bounded
for CI: a fixed number of examples per operation and mode, no shrinking.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from fuzz.conftest import Access
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support.stack import Stack

pytestmark = pytest.mark.fuzz

Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Any]

EXAMPLES = 15
"""Per operation and generation mode (valid and invalid input): about 1,000 requests in all."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


NEVER_ENDING = {"GET /v1/incident-events"}
"""Event streams: a valid request is answered with a body that never ends, which the fuzzer would
wait for forever. Its refusals and its events are tested in tests/e2e/test_e2e_live_updates.py."""


def _credentials(service: str, operation: Operation, access: Access) -> Any:
    if service in ("incidents", "pagerduty-ingest", "notifications"):
        return access.bearer()
    if service == "identity" and operation.label != "DELETE /v1/session":
        # Logging out would end the session every later identity operation is fuzzed with.
        return access.session()
    return {}


def _fuzz(operation: Operation, base_url: str, headers: dict[str, str]) -> None:
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=2 * EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    run()


@pytest.mark.parametrize(
    "service", ["identity", "auth", "incidents", "pagerduty-ingest", "notifications"]
)
def test_every_operation_answers_only_as_documented(
    stack: Stack, access: Access, service: str
) -> None:
    base_url = stack.url(service)
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr] # an invalid document raises here
        if operation.label in NEVER_ENDING:
            continue
        operations += 1
        try:
            _fuzz(operation, base_url, _credentials(service, operation, access))
        except Exception as exc:  # every operation is fuzzed; all failures are reported together
            failures.append(f"{operation.label}: {exc}")
    assert operations > 0
    assert not failures, "\n\n".join(failures)
