"""A fake PagerDuty REST API on loopback, for tests of the ingest service's enrichment and sync.

It serves the two calls enrichment makes — ``GET /users/{id}`` and ``GET /oncalls`` — and the
two writes Fireline → PagerDuty sync makes — ``PUT /incidents/{id}`` (status) and ``POST
/incidents/{id}/notes`` — with PagerDuty's response shapes, checks ``Authorization: Token
token=<t>`` and the v2 ``Accept`` header as PagerDuty does, and can be switched at runtime into
the failure modes enrichment must survive: ``slow`` (past the client's timeout), ``error`` (500)
and ``ratelimited`` (429 with ``ratelimit-reset``). Every request is recorded (body included) so
tests can assert what was sent. Writes answer what ``script_writes`` queued (e.g. 429 with
``Retry-After``, then 200), and a status change that succeeds is followed, as PagerDuty does, by
its V3 webhook — the "echo", its agent the ``From`` user — signed and posted to the URL
``send_webhooks_to`` names.

Sync tests::

    with FakePagerDuty(users=USERS, oncalls=ONCALLS) as pd:
        ... pd.url ...

Async tests: ``async with FakePagerDuty(...) as pd:`` (or ``await pd.astart()`` / ``astop()``).
As a separate process (for e2e runs)::

    python -m support.fake_pagerduty --port 0 --users-json users.json

prints its URL on the first line of stdout and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, Self, get_args

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support import pagerduty_fixtures as pd

Mode = Literal["normal", "slow", "error", "ratelimited"]
MODES: tuple[Mode, ...] = get_args(Mode)

DEFAULT_TOKEN = "fake-pagerduty-api-token"
PAGERDUTY_ACCEPT = "application/vnd.pagerduty+json;version=2"
RATE_LIMIT_PER_MINUTE = 960
"""PagerDuty's documented REST limit per API key, echoed in ``ratelimit-limit``."""

_STARTUP_TIMEOUT_S = 10.0
_SHUTDOWN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class OnCall:
    """One on-call entry of an escalation policy: who, at which escalation level."""

    user_id: str
    escalation_level: int = 1


@dataclass(frozen=True)
class ScriptedAnswer:
    """One answer to a write: its status and extra headers (e.g. ``Retry-After``)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SentWebhook:
    """An echo webhook the fake posted, and what the receiver answered."""

    event_type: str
    incident_id: str
    status_code: int


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received, recorded before any delay or error was applied."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    """Header names are lower-case."""
    body: bytes = b""
    at: float = 0.0
    """``time.monotonic()`` when it arrived."""

    def json(self) -> Any:
        return json.loads(self.body)

    def query_values(self, name: str) -> list[str]:
        """Every value of query parameter ``name`` (e.g. ``"include[]"``), in order."""
        return [value for key, value in self.query if key == name]


class FakePagerDuty:
    """A PagerDuty REST API double bound to 127.0.0.1 on a free port (or ``port``)."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        users: Mapping[str, Mapping[str, Any]] | None = None,
        oncalls: Mapping[str, Sequence[OnCall | str]] | None = None,
        mode: Mode = "normal",
        slow_delay: float = 3.0,
        ratelimit_reset: int = 30,
        require_accept: bool = True,
        port: int = 0,
        page_size: int | None = None,
    ) -> None:
        """Configure the fake; nothing listens until ``start``.

        ``users`` maps a PagerDuty user id to at least ``email`` (and usually ``name``); other
        keys override the generated user fields. ``oncalls`` maps an escalation policy id to its
        on-call entries in the order ``/oncalls`` returns them; a bare string is a level-1 user.
        ``page_size`` makes ``/oncalls`` paginate like PagerDuty (``limit``/``offset`` in,
        ``more`` out) with at most that many rows a page; None returns every row at once.
        """
        self.token = token
        self.page_size = page_size
        self.require_accept = require_accept
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Any]] = {}
        self._oncalls: dict[str, list[OnCall]] = {}
        self._requests: list[RecordedRequest] = []
        self._scripted: list[ScriptedAnswer] = []
        self._webhook: tuple[str, str] | None = None
        self._sent: list[SentWebhook] = []
        self._background: set[asyncio.Task[None]] = set()
        self._mode: Mode = "normal"
        self.slow_delay = slow_delay
        self.ratelimit_reset = ratelimit_reset
        self.set_mode(mode)
        for user_id, fields in (users or {}).items():
            self.set_user(user_id, **fields)
        for policy_id, entries in (oncalls or {}).items():
            self.set_oncalls(policy_id, entries)
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )

    # -- configuration (safe to call while serving) -------------------------------------------

    @property
    def mode(self) -> Mode:
        """The current behaviour; see ``set_mode``."""
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self.set_mode(mode)

    def set_mode(
        self,
        mode: Mode,
        *,
        delay: float | None = None,
        reset_seconds: int | None = None,
    ) -> None:
        """Switch behaviour for the following requests.

        ``normal`` answers at once; ``slow`` waits ``delay`` seconds (default ``slow_delay``)
        before answering normally; ``error`` answers 500; ``ratelimited`` answers 429 with
        ``ratelimit-reset: reset_seconds`` (default ``ratelimit_reset``).
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        if delay is not None:
            self.slow_delay = delay
        if reset_seconds is not None:
            self.ratelimit_reset = reset_seconds
        self._mode = mode

    def set_user(self, user_id: str, *, email: str, name: str | None = None, **extra: Any) -> None:
        """Add or replace the user ``GET /users/{user_id}`` returns."""
        with self._lock:
            self._users[user_id] = {"email": email, "name": name or user_id, **extra}

    def remove_user(self, user_id: str) -> None:
        """Make ``GET /users/{user_id}`` answer 404."""
        with self._lock:
            self._users.pop(user_id, None)

    def set_oncalls(self, escalation_policy_id: str, entries: Sequence[OnCall | str]) -> None:
        """Set who is on call for a policy, in the order ``/oncalls`` returns them."""
        normalised = [OnCall(entry) if isinstance(entry, str) else entry for entry in entries]
        with self._lock:
            self._oncalls[escalation_policy_id] = normalised

    def script_writes(self, *answers: int | ScriptedAnswer) -> None:
        """Answer the next writes (PUT or POST) with these, in order; then 200/201 again."""
        with self._lock:
            self._scripted.extend(ScriptedAnswer(a) if isinstance(a, int) else a for a in answers)

    def send_webhooks_to(self, url: str | None, secret: str | None = None) -> None:
        """Post the echo of every status change that succeeds to ``url``, signed with
        ``secret`` as PagerDuty signs (None: send nothing)."""
        self._webhook = (url, secret or "") if url is not None else None

    @property
    def sent_webhooks(self) -> list[SentWebhook]:
        with self._lock:
            return list(self._sent)

    # -- observation ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """The recorded requests whose path starts with ``path_prefix``."""
        return [request for request in self.requests if request.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash); only while serving."""
        if self._url is None:
            raise RuntimeError("FakePagerDuty is not running; call start() first")
        return self._url

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakePagerDuty is already running")
        # Binding here, not in uvicorn, is what lets port 0 work: the OS picks a free port and
        # we can read it back before any test uses the URL.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self._port))
        except OSError:
            sock.close()
            raise
        host, port = sock.getsockname()[:2]
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            lifespan="off",
            access_log=False,
            # None leaves the process's logging configuration alone (pytest's caplog included).
            log_config=None,
            log_level="warning",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"fake-pagerduty-{port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(_SHUTDOWN_TIMEOUT_S)
                sock.close()
                raise RuntimeError("FakePagerDuty did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        self._url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        """Stop serving; requests still sleeping in ``slow`` mode are cut off. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        # Do not wait for in-flight slow requests: the client under test has usually given up
        # on them already, and a test's teardown should not take slow_delay seconds.
        server.force_exit = True
        thread.join(_SHUTDOWN_TIMEOUT_S)
        self._server = self._thread = self._url = None

    async def astart(self) -> Self:
        """``start`` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        """``stop`` without blocking the caller's event loop."""
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.astop()

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        try:
            body = await request.body()
        except ClientDisconnect:
            # The client gave up before this thread read its request (a short timeout on a busy
            # machine): it still asked, and a test that checks it asked must see that.
            body = b""
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    query=tuple(request.query_params.multi_items()),
                    headers=dict(request.headers),
                    body=body,
                    at=time.monotonic(),
                )
            )
        mode = self._mode
        if mode == "slow":
            await asyncio.sleep(self.slow_delay)
        if request.headers.get("authorization") != f"Token token={self.token}":
            return _error(401, "Authentication failed", 2006)
        if self.require_accept and not _accepts_v2(request.headers.get("accept", "")):
            return _error(406, f"Accept must be {PAGERDUTY_ACCEPT}", 2001)
        if mode == "error":
            return _error(
                500, "An internal error has occurred. PagerDuty team has been notified.", 2000
            )
        if mode == "ratelimited":
            return _error(
                429,
                "Rate Limit Exceeded",
                2020,
                headers=_ratelimit_headers(remaining=0, reset=self.ratelimit_reset),
            )
        path = request.url.path.rstrip("/")
        if request.method in ("PUT", "POST") and path.startswith("/incidents/"):
            return self._write(request, path, body)
        if request.method != "GET":
            return _error(404, "Not Found", 2100)
        if path == "/oncalls":
            return self._list_oncalls(request)
        prefix, _, user_id = path.rpartition("/")
        if prefix == "/users" and user_id:
            return self._get_user(user_id)
        return _error(404, "Not Found", 2100)

    def _write(self, request: Request, path: str, body: bytes) -> Response:
        parts = path.split("/")  # "", "incidents", id[, "notes"]
        incident_id = parts[2]
        is_note = len(parts) == 4 and parts[3] == "notes" and request.method == "POST"
        if not (is_note or (len(parts) == 3 and request.method == "PUT")):
            return _error(404, "Not Found", 2100)
        from_email = request.headers.get("from")
        user_id = self._user_by_email(from_email)
        if user_id is None:
            # PagerDuty's answer to a write without a valid From (account-level tokens).
            return _error(400, "Invalid Input Provided", 2001)
        with self._lock:
            scripted = self._scripted.pop(0) if self._scripted else None
        if scripted is not None and not 200 <= scripted.status < 300:
            message = {429: "Rate Limit Exceeded", 403: "Access Denied"}.get(
                scripted.status, "An internal error has occurred."
            )
            return _error(scripted.status, message, 2000, headers=scripted.headers)
        try:
            document = json.loads(body)
        except ValueError:
            return _error(400, "Invalid Input Provided", 2001)
        user = self._reference("user", user_id, user_id)
        if is_note:
            content = str(document.get("note", {}).get("content", ""))
            note = {"id": "PNOTE" + uuid.uuid4().hex[:8].upper(), "content": content, "user": user}
            self._echo(incident_id, "incident.annotated", user_id, content=content)
            return JSONResponse({"note": note}, status_code=201)
        status = str(document.get("incident", {}).get("status", ""))
        if status not in ("acknowledged", "resolved"):
            return _error(400, "Invalid Input Provided", 2001)
        self._echo(incident_id, f"incident.{status}", user_id, status=status)
        incident = {
            "id": incident_id,
            "type": "incident",
            "status": status,
            "last_status_change_by": user,
        }
        return _ok({"incident": incident})

    def _echo(
        self,
        incident_id: str,
        event_type: str,
        user_id: str,
        *,
        status: str | None = None,
        content: str | None = None,
    ) -> None:
        target = self._webhook
        if target is None:
            return
        url, secret = target
        document = json.loads(
            pd.delivery(
                event_type.replace(".", "_"),
                incident_id=incident_id,
                event_id=uuid.uuid4().hex[:26].upper(),
                agent_user_id=user_id,
                occurred_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                status=status,
            )
        )
        if content is not None:
            document["event"]["data"]["content"] = content
        body = json.dumps(document).encode()

        async def send() -> None:
            # After the answer, as PagerDuty does: the webhook may reach Fireline before or
            # after Fireline has recorded the answer.
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.post(url, content=body, headers=pd.signed(body, secret))
            with self._lock:
                self._sent.append(SentWebhook(event_type, incident_id, response.status_code))

        task = asyncio.get_running_loop().create_task(send())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _user_by_email(self, email: str | None) -> str | None:
        if not email:
            return None
        with self._lock:
            for user_id, fields in self._users.items():
                if str(fields.get("email", "")).lower() == email.strip().lower():
                    return user_id
        return None

    def _get_user(self, user_id: str) -> Response:
        user = self._full_user(user_id)
        if user is None:
            return _error(404, "Not Found", 2100)
        return _ok({"user": user})

    def _list_oncalls(self, request: Request) -> Response:
        wanted = request.query_params.getlist("escalation_policy_ids[]")
        include_users = "users" in request.query_params.getlist("include[]")
        with self._lock:
            policies = {policy: list(entries) for policy, entries in self._oncalls.items()}
        selected = wanted or list(policies)
        oncalls = [
            {
                "escalation_policy": self._reference("escalation_policy", policy, policy),
                "escalation_level": entry.escalation_level,
                "schedule": None,
                "user": self._oncall_user(entry.user_id, full=include_users),
                # An always-on-call level (no schedule) has no start or end in PagerDuty.
                "start": None,
                "end": None,
            }
            for policy in selected
            for entry in policies.get(policy, [])
        ]
        if self.page_size is None:
            # Pagination not simulated: everything fits on the first page.
            return _ok({"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None})
        try:
            limit = int(request.query_params.get("limit", "25"))
            offset = int(request.query_params.get("offset", "0"))
        except ValueError:
            return _error(400, "Invalid Input Provided", 2001)
        if limit < 1 or offset < 0:
            return _error(400, "Invalid Input Provided", 2001)
        size = min(limit, self.page_size)
        return _ok(
            {
                "oncalls": oncalls[offset : offset + size],
                "limit": size,
                "offset": offset,
                "more": offset + size < len(oncalls),
                "total": None,
            }
        )

    def _oncall_user(self, user_id: str, *, full: bool) -> dict[str, Any]:
        user = self._full_user(user_id) if full else None
        if user is not None:
            return user
        # Without include[]=users — or for an on-call user with no user record configured —
        # PagerDuty's answer is a reference: no email.
        with self._lock:
            name = self._users.get(user_id, {}).get("name", user_id)
        return self._reference("user", user_id, str(name))

    def _full_user(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            fields = self._users.get(user_id)
            if fields is None:
                return None
            fields = dict(fields)
        name = str(fields.get("name", user_id))
        return {
            "id": user_id,
            "type": "user",
            "summary": name,
            "self": f"{self.url}/users/{user_id}",
            "html_url": f"https://acme.pagerduty.com/users/{user_id}",
            "name": name,
            "time_zone": "Etc/UTC",
            "color": "purple",
            "role": "user",
            "avatar_url": None,
            "description": None,
            "invitation_sent": False,
            "job_title": None,
            "teams": [],
            "contact_methods": [],
            "notification_rules": [],
            **fields,
        }

    def _reference(self, kind: str, resource_id: str, summary: str) -> dict[str, Any]:
        collection = {"user": "users", "escalation_policy": "escalation_policies"}[kind]
        return {
            "id": resource_id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.url}/{collection}/{resource_id}",
            "html_url": f"https://acme.pagerduty.com/{collection}/{resource_id}",
        }


def _accepts_v2(accept: str) -> bool:
    # Compare media types ignoring case and whitespace: "…+json; version=2" is the same type.
    wanted = PAGERDUTY_ACCEPT.lower()
    return any("".join(part.split()).lower() == wanted for part in accept.split(","))


def _ratelimit_headers(*, remaining: int, reset: int) -> dict[str, str]:
    return {
        "ratelimit-limit": str(RATE_LIMIT_PER_MINUTE),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset),
    }


def _ok(body: Mapping[str, Any]) -> Response:
    return JSONResponse(
        dict(body), headers=_ratelimit_headers(remaining=RATE_LIMIT_PER_MINUTE - 1, reset=60)
    )


def _error(
    status: int, message: str, code: int, *, headers: Mapping[str, str] | None = None
) -> Response:
    # PagerDuty's documented error body.
    return JSONResponse(
        {"error": {"message": message, "code": code}}, status_code=status, headers=headers
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake as a process until SIGINT/SIGTERM; print its URL first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="API token to accept")
    parser.add_argument(
        "--users-json",
        type=Path,
        help='JSON file: {"users": {id: {"email", "name"}}, "oncalls": {policy: [user id]}}',
    )
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--slow-delay", type=float, default=3.0)
    args = parser.parse_args(argv)

    config: dict[str, Any] = {}
    if args.users_json is not None:
        config = json.loads(args.users_json.read_text(encoding="utf-8"))
    oncalls = {
        policy: [
            OnCall(entry["user_id"], int(entry.get("escalation_level", 1)))
            if isinstance(entry, dict)
            else str(entry)
            for entry in entries
        ]
        for policy, entries in config.get("oncalls", {}).items()
    }
    fake = FakePagerDuty(
        token=args.token,
        users=config.get("users", {}),
        oncalls=oncalls,
        mode=args.mode,
        slow_delay=args.slow_delay,
        port=args.port,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with fake:
        print(fake.url, flush=True)
        # Wait in short slices so the signal handler's flag is seen promptly.
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
