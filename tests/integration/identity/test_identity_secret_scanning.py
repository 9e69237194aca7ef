"""Secret-scanning reports over HTTP on the real database and broker: signed reports revoke live
keys and say which tokens were Fireline's; anything unsigned, oversized or malformed is a 4xx
problem and revokes nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from fireline_contracts import KEYS, KeyRevoked, api_keys, parse_event
from fireline_identity.domain.secret_scanning import MAX_REPORT_BYTES
from support.kafka import read_topic
from support.secret_scanning import Scanner, report, write_keys_file

if TYPE_CHECKING:
    from integration.identity.conftest import Identity, StartIdentity

pytestmark = pytest.mark.integration

URL = "/v1/secret-scanning/github"
SCANNER = Scanner("test-scanner-1")


@pytest.fixture
async def scanned(start_identity: StartIdentity, tmp_path: Path) -> AsyncIterator[Identity]:
    path = tmp_path / "secret-scanning-keys.json"
    write_keys_file(path, SCANNER)
    async with start_identity(secret_scanning_keys_file=str(path)) as harness:
        yield harness


async def _keys(admin: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    listed = await admin.get("/v1/api-keys", params={"include_revoked": "true"})
    return {item["id"]: item for item in listed.json()["items"]}


async def test_a_signed_report_revokes_the_live_key_and_labels_each_token(
    scanned: Identity,
) -> None:
    admin = await scanned.login()
    live = (await admin.post("/v1/api-keys", json={"name": "live"})).json()
    dead = (await admin.post("/v1/api-keys", json={"name": "dead"})).json()
    await admin.delete(f"/v1/api-keys/{dead['id']}")
    stranger = api_keys.generate()
    body = report(live["key"], dead["key"], stranger, "flk_tooshort", url="https://gh.example/l")
    scanner = scanned.client()  # no session, no Origin: a server calling

    answer = await scanner.post(URL, content=body, headers=SCANNER.headers(body))

    assert answer.status_code == 200, answer.text
    assert answer.json() == [
        {"token_raw": live["key"], "token_type": "fireline_api_key", "label": "true_positive"},
        {"token_raw": dead["key"], "token_type": "fireline_api_key", "label": "true_positive"},
        {"token_raw": stranger, "token_type": "fireline_api_key", "label": "false_positive"},
        {"token_raw": "flk_tooshort", "token_type": "fireline_api_key", "label": "false_positive"},
    ]
    items = await _keys(admin)
    assert items[live["id"]]["status"] == "revoked"
    assert items[live["id"]]["revocation_reason"] == "leaked"
    assert items[live["id"]]["revocation_report_url"] == "https://gh.example/l"
    assert items[dead["id"]]["revocation_reason"] == "revoked"

    # Two created, two revoked; the topic's partitions order nothing across keys, so the leaked
    # key's revocation is found by its key, not by its place.
    records = await read_topic(scanned.kafka, scanned.topic(KEYS), until=4, timeout=20)
    revoked = [e for r in records if isinstance(e := parse_event(r.value), KeyRevoked)]
    [leaked] = [e for e in revoked if e.payload.key_id.hex == live["id"].replace("-", "")]
    assert (leaked.payload.reason, leaked.payload.revoked_by) == ("leaked", None)
    assert leaked.payload.report_url == "https://gh.example/l"

    # The same report again: the same answer, and nothing new on the topic.
    again = await scanner.post(URL, content=body, headers=SCANNER.headers(body))
    assert again.json() == answer.json()
    assert (await _keys(admin)) == items


async def test_unsigned_forged_oversized_and_malformed_reports_revoke_nothing(
    scanned: Identity,
) -> None:
    admin = await scanned.login()
    live = (await admin.post("/v1/api-keys", json={"name": "live"})).json()
    body = report(live["key"])
    forger = Scanner(SCANNER.key_identifier)
    scanner = scanned.client()
    signed_junk = b'{"token": "' + live["key"].encode() + b'"}'
    huge = report(live["key"]) + b" " * MAX_REPORT_BYTES

    cases = [
        (await scanner.post(URL, content=body), 401),
        (await scanner.post(URL, content=body, headers=forger.headers(body)), 401),
        (await scanner.post(URL, content=body + b" ", headers=SCANNER.headers(body)), 401),
        (
            await scanner.post(
                URL,
                content=body,
                headers={**SCANNER.headers(body), "GITHUB-PUBLIC-KEY-IDENTIFIER": "unknown"},
            ),
            401,
        ),
        (await scanner.post(URL, content=signed_junk, headers=SCANNER.headers(signed_junk)), 400),
        (await scanner.post(URL, content=huge, headers=SCANNER.headers(huge)), 413),
    ]

    for response, status in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert live["key"] not in response.text
    assert (await _keys(admin))[live["id"]]["status"] == "active"
    # A properly signed report still works afterwards: the refusals were about the requests.
    ok = await scanner.post(URL, content=body, headers=SCANNER.headers(body))
    assert json.loads(ok.text)[0]["label"] == "true_positive"


async def test_without_configured_keys_reports_are_refused(identity: Identity) -> None:
    body = report(api_keys.generate())
    refused = await identity.client().post(URL, content=body, headers=SCANNER.headers(body))
    assert refused.status_code == 401
    assert refused.json()["code"] == "secret_scanning_not_configured"


async def test_reports_nested_too_deep_are_a_400_and_revoke_nothing(scanned: Identity) -> None:
    admin = await scanned.login()
    live = (await admin.post("/v1/api-keys", json={"name": "live"})).json()
    scanner = scanned.client()
    entry = report(live["key"])[1:-1]  # the one entry object, as text
    for depth in (65, 5_000):
        # The live key's entry comes first: nothing may be revoked before the whole report parsed.
        body = b"[" + entry + b", " + b"[" * depth + b"]" * depth + b"]"

        refused = await scanner.post(URL, content=body, headers=SCANNER.headers(body))

        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    ok = report(api_keys.generate())
    assert (await scanner.post(URL, content=ok, headers=SCANNER.headers(ok))).status_code == 200
    assert (await _keys(admin))[live["id"]]["status"] == "active"


async def test_a_live_key_is_revoked_whatever_else_the_report_holds(scanned: Identity) -> None:
    admin = await scanned.login()
    live = (await admin.post("/v1/api-keys", json={"name": "live"})).json()
    odd_url = "https://gh.example/\udc80/" + "x" * 5_000
    # ensure_ascii writes the lone surrogates as \u escapes, the only way JSON carries them.
    body = json.dumps(
        [
            {"token": "\ud800", "type": "fireline_api_key"},
            {"token": live["key"], "type": "t\u0000", "url": odd_url, "source": "s" * 5_000},
        ]
    ).encode()
    scanner = scanned.client()

    answer = await scanner.post(URL, content=body, headers=SCANNER.headers(body))

    assert answer.status_code == 200, answer.text
    assert answer.json() == [
        {"token_raw": "\ufffd", "token_type": "fireline_api_key", "label": "false_positive"},
        {"token_raw": live["key"], "token_type": "t\ufffd", "label": "true_positive"},
    ]
    revoked = (await _keys(admin))[live["id"]]
    assert (revoked["status"], revoked["revocation_reason"]) == ("revoked", "leaked")
    stored = "https://gh.example/\ufffd/" + "x" * 5_000
    assert revoked["revocation_report_url"] == stored[:2048]
    records = await read_topic(scanned.kafka, scanned.topic(KEYS), until=2, timeout=20)
    [leaked] = [e for r in records if isinstance(e := parse_event(r.value), KeyRevoked)]
    assert leaked.payload.report_url == stored[:2048]
