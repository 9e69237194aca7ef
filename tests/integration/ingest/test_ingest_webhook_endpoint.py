"""The webhook route is a plain ASGI endpoint answered ahead of FastAPI's routing: what FastAPI
and the request middleware did for it, it must still get. The answers PagerDuty's retry rules
depend on (413, 401, 400, 404, 202, 200) are in test_ingest_receiver.py; these are the parts the
endpoint now does itself or relies on the middleware for."""

from __future__ import annotations

import logging
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fireline_pagerduty_ingest.domain.webhook import parse_delivery, restored
from integration.ingest.ingest_harness import IngestApp
from support.pagerduty_fixtures import delivery, new_incident_id, signed
from support.token_issuer import TokenIssuer

pytestmark = pytest.mark.integration

SECRET = "pagerduty-signing-secret-current"
ROUTE = "/webhooks/pagerduty/{integration_id}"


@pytest.fixture
async def integration_id(svc: IngestApp, issuer: TokenIssuer) -> str:
    created = await svc.create_integration(
        issuer.token(org_id=uuid.uuid4()), signing_secrets=[SECRET]
    )
    return str(created["id"])


def _samples(exposition: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if sample.name == name
    }


async def test_the_content_type_does_not_decide_the_signature_does(
    svc: IngestApp, integration_id: str
) -> None:
    # PagerDuty sends application/json; the HMAC over the raw bytes is what authenticates a
    # delivery, so any other content type is read as those same bytes, as before.
    body = delivery("incident_triggered", incident_id=new_incident_id())
    plain = {**signed(body, SECRET), "Content-Type": "text/plain"}
    form = {**signed(b"x=1", "not-the-secret"), "Content-Type": "multipart/form-data; boundary=x"}

    accepted = await svc.deliver(integration_id, body, plain)
    refused = await svc.deliver(integration_id, b"x=1", form)

    assert accepted.status_code == 202
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid_signature"
    assert [bytes(row["body"]) for row in await svc.deliveries()] == [body]


async def test_the_correlation_id_is_echoed_and_stored_with_the_delivery(
    svc: IngestApp, integration_id: str
) -> None:
    mine = delivery("incident_triggered", incident_id=new_incident_id())
    minted = delivery("incident_triggered", incident_id=new_incident_id())

    given = await svc.deliver(
        integration_id, mine, {**signed(mine, SECRET), "X-Correlation-ID": "pd-storm-42"}
    )
    generated = await svc.deliver(integration_id, minted, signed(minted, SECRET))

    assert given.headers["X-Correlation-ID"] == "pd-storm-42"
    new_id = generated.headers["X-Correlation-ID"]
    assert new_id not in ("", "pd-storm-42")
    stored = {bytes(row["body"]): row["correlation_id"] for row in await svc.deliveries()}
    assert stored == {mine: "pd-storm-42", minted: new_id}


async def test_a_refusal_carries_the_correlation_id_too(svc: IngestApp) -> None:
    body = delivery("pagey_ping")

    response = await svc.deliver(
        str(uuid.uuid4()), body, {**signed(body, SECRET), "X-Correlation-ID": "pd-missing-1"}
    )

    assert response.status_code == 404
    assert response.headers["X-Correlation-ID"] == "pd-missing-1"
    assert response.json()["instance"].startswith("/webhooks/pagerduty/")


async def test_requests_are_counted_under_the_route_template_with_their_outcomes(
    svc: IngestApp, integration_id: str
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())
    headers = signed(body, SECRET)
    assert (await svc.deliver(integration_id, body, headers)).status_code == 202
    assert (await svc.deliver(integration_id, body, headers)).status_code == 200
    forged = {**headers, "X-PagerDuty-Signature": "v1=" + "0" * 64}
    assert (await svc.deliver(integration_id, body, forged)).status_code == 401
    assert (await svc.deliver(str(uuid.uuid4()), body, headers)).status_code == 404

    exposition = await svc.runtime.http.scrape()

    requests = _samples(exposition, "fireline_http_requests_total")
    for status in ("202", "200", "401", "404"):
        labels = (("method", "POST"), ("route", ROUTE), ("status", status))
        assert requests[labels] == 1, status
    timed = _samples(exposition, "fireline_http_request_seconds_count")
    assert timed[(("method", "POST"), ("route", ROUTE))] == 4
    outcomes = _samples(exposition, "fireline_webhook_deliveries_total")
    assert outcomes[(("outcome", "accepted"), ("status", "202"))] == 1
    assert outcomes[(("outcome", "duplicate"), ("status", "200"))] == 1
    assert outcomes[(("outcome", "invalid_signature"), ("status", "401"))] == 1
    assert outcomes[(("outcome", "integration_not_found"), ("status", "404"))] == 1


async def test_each_delivery_writes_one_access_line_without_its_query(
    svc: IngestApp, integration_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = delivery("incident_triggered", incident_id=new_incident_id())
    caplog.set_level(logging.INFO, logger="fireline.access")

    response = await svc.deliver(integration_id, body, signed(body, SECRET), {"severity": "SEV1"})

    assert response.status_code == 202
    lines = [r for r in caplog.records if r.name == "fireline.access"]
    assert len(lines) == 1
    line = lines[0].__dict__
    assert (line["method"], line["path"], line["status"]) == (
        "POST",
        f"/webhooks/pagerduty/{integration_id}",
        202,
    )


async def test_unstorable_text_in_a_query_parameter_is_a_400_naming_it(
    svc: IngestApp, integration_id: str
) -> None:
    body = delivery("incident_triggered")

    response = await svc.deliver(
        integration_id, body, signed(body, SECRET), {"incident_type": "Out\x00age"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_text"
    assert [e["loc"] for e in problem["errors"]] == [["query", "incident_type"]]
    assert await svc.deliveries() == []


async def test_other_methods_on_the_path_are_still_refused_by_the_router(
    svc: IngestApp, integration_id: str
) -> None:
    response = await svc.client.get(f"/webhooks/pagerduty/{integration_id}")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "X-Correlation-ID" in response.headers


async def test_the_document_describes_the_route_the_endpoint_answers(svc: IngestApp) -> None:
    document = (await svc.client.get("/openapi.json")).json()

    operation = document["paths"][ROUTE]["post"]
    parameters = {(p["name"], p["in"], p.get("required", False)) for p in operation["parameters"]}
    assert parameters == {
        ("integration_id", "path", True),
        ("incident_type", "query", False),
        ("severity", "query", False),
    }
    responses = operation["responses"]
    receipt = {"$ref": "#/components/schemas/WebhookReceipt"}
    assert responses["202"]["content"]["application/json"]["schema"] == receipt
    assert responses["200"]["content"]["application/json"]["schema"] == receipt
    for status in ("400", "401", "404", "413", "503"):
        assert "application/problem+json" in responses[status]["content"], status
    assert set(document["components"]["schemas"]["WebhookReceipt"]["properties"]) == {
        "status",
        "delivery_id",
        "recorded_as",
    }


async def test_the_parsed_event_is_stored_with_the_body_before_the_answer(
    svc: IngestApp, integration_id: str
) -> None:
    incident = new_incident_id()
    trigger = delivery("incident_triggered", incident_id=incident)
    # A user's acknowledgement goes to the worker (it may be the echo of Fireline's own change).
    acknowledged = delivery("incident_acknowledged", incident_id=incident)
    ping = delivery("pagey_ping")
    for body in (trigger, acknowledged, ping):
        assert (await svc.deliver(integration_id, body, signed(body, SECRET))).status_code == 202

    stored = {bytes(row["body"]): row["parsed_event"] for row in await svc.deliveries()}

    # What the worker will read back instead of parsing the body; the trigger was published on
    # receipt (this integration has no API token) and a ping is never published.
    assert restored(stored[acknowledged], b"") == parse_delivery(acknowledged)
    assert stored[trigger] is None
    assert stored[ping] is None
