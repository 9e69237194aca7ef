"""A TCP proxy that can cut the line: a server that goes away and comes back, state intact.

Used where really stopping the server is not what the test means: Tansu keeps topics in memory,
so stopping it would delete every topic and committed offset (which no Kafka outage does), and a
test's own database should come back with its data. Every client connection goes through here,
and :meth:`cut` drops them all and refuses new ones until :meth:`restore`: to clients it is
exactly a server that went away. The target is a TCP port, or a Unix socket (the embedded
PostgreSQL listens on one only).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class FaultProxy:
    def __init__(
        self, target_port: int, listen_port: int, *, target_socket: str | None = None
    ) -> None:
        """Forward to 127.0.0.1:``target_port``, or to the Unix socket ``target_socket`` (an
        embedded PostgreSQL listens on a socket only)."""
        self.target_port = target_port
        self.target_socket = target_socket
        self.listen_port = listen_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._up = True

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.listen_port, reuse_address=True
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        try:
            if self.target_socket is not None:
                up_reader, up_writer = await asyncio.open_unix_connection(self.target_socket)
            else:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def _cut(self) -> None:
        self._up = False
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    def cut(self) -> None:
        """The broker is gone: open connections drop, new ones are closed at once."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(10)

    def restore(self) -> None:
        self._up = True

    def stop(self) -> None:
        async def close() -> None:
            await self._cut()
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
