"""Scenario 0, the ceiling: a bare FastAPI app answering a POST with a small pydantic body.

It runs on :func:`fireline_runtime.server.server_config`, the very settings the services run on
(one process, uvloop, httptools), so a scenario's ratio to it is the cost of Fireline's own work:
middleware, authentication, validation, database and broker. No database, no logging, no metrics.

``python -m bench.ceiling --port 8010``
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from fireline_runtime.server import server_config


class Ping(BaseModel):
    name: str
    count: int


class Pong(BaseModel):
    name: str
    count: int
    ok: bool


def create_app() -> FastAPI:
    app = FastAPI(title="ceiling")

    @app.post("/echo", status_code=200)
    async def echo(body: Ping) -> Pong:
        return Pong(name=body.name, count=body.count + 1, ok=True)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.Server(server_config(create_app(), host=args.host, port=args.port, grace_s=5)).run()


if __name__ == "__main__":
    main()
