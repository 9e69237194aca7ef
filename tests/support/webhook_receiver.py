"""An HTTP endpoint on loopback that records the webhooks it receives, for the notifications
tests: every request's path, headers and exact body, and per path a script of answers (fail the
first attempts, answer 410, take a long time) to drive the retry rules."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    status: int
    """What the receiver answered."""


@dataclass
class _Script:
    statuses: list[int]
    then: int = 204
    delay_s: float = 0.0
    retry_after: str | None = None
    location: str | None = None


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) would refuse connections from a sender with dozens in
    # flight, and a test would see refusals that are the receiver's, not the sender's.
    request_queue_size = 128
    daemon_threads = True


class WebhookReceiver:
    """``with WebhookReceiver() as r:`` … ``r.url("/hook")`` … ``r.wait("/hook", 3)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._scripts: dict[str, _Script] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(
        self,
        path: str,
        *statuses: int,
        then: int = 204,
        delay_s: float = 0.0,
        retry_after: str | None = None,
        location: str | None = None,
    ) -> None:
        """Answer the next requests to ``path`` with ``statuses`` in turn, then ``then`` always;
        each answer after ``delay_s`` (a slow or dead endpoint), a 429 with ``retry_after`` and
        a 3xx with ``location``."""
        with self._lock:
            self._scripts[path] = _Script(list(statuses), then, delay_s, retry_after, location)

    def url(self, path: str) -> str:
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return list(self._received[path])

    def wait(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        """The first ``count`` requests to ``path``, once they arrived; AssertionError after
        ``timeout`` seconds with what did arrive."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._received[path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len(self._received[path])
                    raise AssertionError(f"{path}: {got} of {count} requests in {timeout}s")
                self._arrived.wait(left)
            return list(self._received[path][:count])

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, _Script]:
        with self._lock:
            script = self._scripts.get(path, _Script([]))
            status = script.statuses.pop(0) if script.statuses else script.then
        if script.delay_s:
            time.sleep(script.delay_s)
        with self._arrived:
            self._received[path].append(Received(path, headers, body, status))
            self._arrived.notify_all()
        return status, script

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (killed after writing the headers): an
                    # HTTP server drops such a request, and the sender owes the message again.
                    # Recorded, it was a delivery no receiver gets, with a body that is no JSON.
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, script = receiver._handle(self.path, headers, body)
                self.send_response(status)
                if status == 429 and script.retry_after is not None:
                    self.send_header("Retry-After", script.retry_after)
                if 300 <= status < 400 and script.location is not None:
                    self.send_header("Location", script.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                # The sender may have gone away (killed, or gave up waiting): it is recorded.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test's output is for the test's findings

        server = _Server(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
