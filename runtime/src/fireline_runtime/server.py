"""Run a service's app under uvicorn with JSON logs and a graceful SIGTERM.

The server settings live in :func:`server_config` alone, so the benchmark's bare-app ceiling
(``bench/ceiling.py``) runs on exactly the settings the services run on.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fireline_runtime.observability import configure_logging
from fireline_runtime.request_context import MAX_HEADER_BYTES
from fireline_runtime.settings import ServiceSettings

# Chosen by measurement (BENCHMARKS.md): uvloop and httptools are C implementations of the event
# loop and the HTTP/1.1 parser. Named explicitly so a missing wheel fails at start-up instead of
# silently falling back to the pure-Python h11 parser at a fraction of the throughput.
LOOP = "uvloop"

MAX_HEAD_READ_BYTES = 4 * MAX_HEADER_BYTES
"""How much of a request's head (request line and headers) is read at all.
``request_context.py`` answers 431 problem+json above ``MAX_HEADER_BYTES``; this bounds the memory
a client can take."""

HEAD_TIMEOUT_S = 10.0
"""How long a connection may take to send a whole request head, counted from when it opened or
from the end of its previous response. Without it a head that never ends (or a connection that
never sends one) held its socket for as long as the client liked: 500 such connections were held
80 s and more. uvicorn's keep-alive timeout stops counting at the first byte of the next head."""

MAX_CONNECTIONS = 1024
"""Open connections (with requests in flight) one process serves; past it a request is answered
503 and its connection closed (uvicorn's ``limit_concurrency``). With the head timeout this
bounds the sockets and memory that idle or slow clients can hold, whatever their number."""

_LINGER_S = 2.0

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 15\r\nconnection: close\r\n\r\n"
    b"Request timeout"
)

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 31\r\nconnection: close\r\n\r\n"
    b"Request header fields too large"
)


class HeadCappedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head grows too large or
    takes longer than ``head_timeout_s`` to arrive.

    The parser itself sets no limit: an 8 MB header was buffered whole, then answered 200. Bytes
    are counted as they arrive, from the end of one request to the end of the next one's headers.
    """

    head_timeout_s = HEAD_TIMEOUT_S
    _head_bytes = 0
    _reading_head = True
    _boundary = False
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._reading_head:
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or not self._reading_head or self.transport.is_closing():
            return
        self._refused = True
        if self._head_bytes:
            # A client that started a request is told why; an idle connection is just closed.
            self.transport.write(_TIMED_OUT)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # discarded, never buffered
        self._boundary = False
        super().data_received(data)
        # Only a read that is all head counts: one read may also hold the end of a head and the
        # body, or the end of a body and the next head, and a body's bytes are not the head's.
        if self._reading_head and not self._boundary:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_READ_BYTES:
                self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        self.transport.write(_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        # Closing at once, with the client's bytes still arriving, would reset the connection
        # and lose the answer; what it still sends is discarded until it or the grace period ends.
        self.loop.call_later(_LINGER_S, self.transport.close)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._reading_head = False
        self._boundary = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._boundary = True
        self._head_bytes = 0


# The C HTTP parser (httptools) under the class above: importing it fails at start-up if the wheel
# is missing, rather than falling back to the pure-Python h11 parser.
HTTP = HeadCappedHttpTools


def server_config(
    app: Any,
    *,
    host: str,
    port: int,
    grace_s: float,
    head_timeout_s: float = HEAD_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
) -> uvicorn.Config:
    """One process, one event loop: scale out with replicas, which share nothing but databases."""
    http: type[HeadCappedHttpTools] = HTTP
    if head_timeout_s != HTTP.head_timeout_s:

        class TimedHead(HTTP):
            pass

        TimedHead.head_timeout_s = head_timeout_s
        http = TimedHead
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=LOOP,
        http=http,
        log_config=None,
        access_log=False,  # RequestContextMiddleware writes one line without query strings
        proxy_headers=False,
        timeout_graceful_shutdown=int(grace_s),
        lifespan="on",
        limit_concurrency=max_connections,
    )


def serve(app: Any, settings: ServiceSettings, service: str) -> None:
    configure_logging(service, settings.log_level)
    config = server_config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        grace_s=settings.shutdown_grace_s,
    )
    sockets = [config.bind_socket()]
    if settings.metrics_port is not None:
        # The same server and app on a second socket: the /metrics route tells the two apart
        # by the local port a request arrived on (``app.py`` ``metrics_served``).
        metrics = server_config(
            app,
            host=settings.http_host,
            port=settings.metrics_port,
            grace_s=settings.shutdown_grace_s,
        )
        sockets.append(metrics.bind_socket())
    _freeze_startup_heap()
    uvicorn.Server(config).run(sockets=sockets)


def _freeze_startup_heap() -> None:
    """Leave what was built before serving (modules, schemas, the app: some 110,000 objects)
    out of every later garbage collection.

    Python's full collections walk every tracked object. Under load they came every few seconds
    in a service and walked mostly these, which live as long as the process: 80 to 230 ms each, a
    pause for every event and request in flight there (the 200/s latency's tail), and about a
    tenth of a delivery's CPU across ingest, incidents and notifications (BENCHMARKS.md). Frozen,
    they are never walked again; reference counting still frees any of them that is dropped.
    """
    gc.collect()
    gc.freeze()
