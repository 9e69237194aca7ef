"""Error bodies and log lines: the two things every client and operator reads."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fireline_runtime.observability import JsonFormatter, Metrics
from fireline_runtime.problems import Conflict, ErrorMap, install_problem_handlers
from fireline_runtime.request_context import RequestContextMiddleware


class Body(BaseModel):
    name: str = Field(min_length=1, max_length=64)


def app() -> FastAPI:
    a = FastAPI()
    install_problem_handlers(a)

    @a.post("/things")
    async def create(body: Body) -> dict[str, str]:
        if body.name == "taken":
            raise Conflict("That name is taken.", code="name_taken", headers={"X-Why": "dup"})
        return {"name": body.name}

    # One route per method, as FastAPI declares them: a 405's Allow must gather them all.
    @a.get("/things/{thing_id}")
    async def read(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @a.patch("/things/{thing_id}")
    async def rename(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @a.delete("/things/{thing_id}")
    async def remove(thing_id: str) -> None:
        return None

    # As the services declare their API: on a router the app includes.
    v1 = APIRouter(prefix="/v1")

    @v1.get("/items")
    async def list_items() -> list[str]:
        return []

    @v1.post("/items")
    async def add_item() -> None:
        return None

    a.include_router(v1)
    return a


async def request(method: str, path: str, **kw: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kw)  # type: ignore[arg-type]


async def test_validation_errors_are_problem_json_with_a_stable_code() -> None:
    r = await request("POST", "/things", json={"name": ""})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "validation_error"
    assert body["status"] == 422
    assert "name" in body["detail"]
    assert body["errors"][0]["loc"] == ["body", "name"]


async def test_domain_problems_keep_status_code_and_headers() -> None:
    r = await request("POST", "/things", json={"name": "taken"})
    assert r.status_code == 409
    assert r.json()["code"] == "name_taken"
    assert r.json()["detail"] == "That name is taken."
    assert r.headers["x-why"] == "dup"


async def test_unknown_routes_and_methods_are_problems_too() -> None:
    missing = await request("GET", "/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    wrong = await request("GET", "/things")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "POST"


async def test_a_405_allows_every_method_the_path_takes() -> None:
    wrong = await request("PUT", "/things/7")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "DELETE, GET, PATCH"
    assert (await request("PATCH", "/things/7")).status_code == 200


async def test_a_405_on_an_included_routers_path_names_its_methods() -> None:
    wrong = await request("PUT", "/v1/items")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert (await request("GET", "/v1/items")).status_code == 200


def test_json_log_lines_redact_secret_fields() -> None:
    record = logging.makeLogRecord(
        {"msg": "login failed", "levelname": "WARNING", "name": "x", "password": "hunter2hunter2"}
    )
    record.correlation_id = "c-1"
    line = JsonFormatter("identity").format(record)
    doc = json.loads(line)
    assert doc["service"] == "identity"
    assert doc["level"] == "warning"
    assert doc["msg"] == "login failed"
    assert doc["correlation_id"] == "c-1"
    assert doc["password"] == "[redacted]"
    assert "hunter2" not in line


async def test_a_client_gone_mid_body_is_logged_as_499_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def read_body(scope: Scope, receive: Receive, send: Send) -> None:
        # What a route does first; inside FastAPI nothing between it and the middleware handles
        # ClientDisconnect (ServerErrorMiddleware sits outside ours).
        await Request(scope, receive).body()
        await Response("read")(scope, receive, send)

    wrapped = RequestContextMiddleware(read_body, metrics=Metrics("test"))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}  # the client hung up before its body arrived

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [],
        "query_string": b"",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("t", 80),
    }
    with caplog.at_level(logging.INFO, logger="fireline.access"):
        await wrapped(scope, receive, send)  # does not raise

    assert sent == [], "nobody is left to answer"
    access = [r for r in caplog.records if r.name == "fireline.access"]
    assert [getattr(r, "status", None) for r in access] == [499]


class _Base(Exception):
    pass


class _Missing(_Base):
    pass


class _GoneForGood(_Missing):
    """Mapped only through its parent."""


class _Throttled(_Base):
    def __init__(self, wait_s: int) -> None:
        super().__init__("slow down")
        self.wait_s = wait_s


ERRORS = (
    ErrorMap(_Base)
    .add(_Base, 400, "bad_request", "Bad request", detail="Request could not be processed.")
    .add(_Missing, 404, "not_found", "Not found")
    .add(
        _Throttled,
        429,
        "throttled",
        "Too many requests",
        headers=lambda exc: {"Retry-After": str(exc.wait_s)},
        extra=lambda exc: {"retry_after": exc.wait_s},
    )
)


def test_error_map_answers_a_subclass_like_its_nearest_mapped_parent() -> None:
    problem = ERRORS.to_problem(_GoneForGood("incident 7 is gone"))
    assert (problem.status, problem.code, problem.detail) == (
        404,
        "not_found",
        "incident 7 is gone",
    )


def test_error_map_hides_the_message_where_the_rule_gives_a_fixed_detail() -> None:
    problem = ERRORS.to_problem(_Base("internal: row 42 of table secrets"))
    assert problem.status == 400
    assert problem.detail == "Request could not be processed."


async def test_error_map_renders_headers_and_extension_members_as_problem_json() -> None:
    a = FastAPI()
    ERRORS.install(a)

    @a.get("/slow")
    async def slow() -> None:
        raise _Throttled(7)

    transport = httpx.ASGITransport(app=a)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/slow")
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "type": "https://fireline.dev/problems/throttled",
        "title": "Too many requests",
        "status": 429,
        "code": "throttled",
        "detail": "slow down",
        "instance": "/slow",
        "retry_after": 7,
    }


def test_labelled_children_count_into_the_registry_like_labels_does() -> None:
    metrics = Metrics("test")
    for _ in range(3):
        metrics.labelled(metrics.consumed, "probe.apply", "processed").inc()
    metrics.consumed.labels("probe.apply", "processed").inc()
    metrics.labelled(metrics.consume_seconds, "probe.apply").observe(0.25)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    # One child per label set, whichever way it was asked for.
    assert (
        sample("fireline_events_consumed_total", consumer="probe.apply", outcome="processed") == 4
    )
    assert sample("fireline_event_handle_seconds_sum", consumer="probe.apply") == 0.25
    # Kept per registry: another service instance's metrics start from nothing.
    assert (
        Metrics("other").registry.get_sample_value(
            "fireline_events_consumed_total", {"consumer": "probe.apply", "outcome": "processed"}
        )
        is None
    )
