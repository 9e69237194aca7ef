"""The fuzz tier: the five services as processes (a stack of its own), attacked through their
public HTTP surfaces with generated input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fireline_devtools.postgres import Postgres
from support import infra
from support.credentials import access_token, admin_session
from support.stack import Stack, running_stack


@dataclass(frozen=True)
class Access:
    """What a legitimate client holds: the admin's session cookie and a token with every scope."""

    identity_origin: str
    session_cookie: str
    token: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def session(self) -> dict[str, str]:
        return {"Cookie": self.session_cookie, "Origin": self.identity_origin}


@pytest.fixture(scope="session")
def stack(postgres: Postgres, kafka_broker: infra.Broker) -> Iterator[Stack]:
    """A stack of the fuzz tier's own (the fuzzer's wrong passwords throttle its address)."""
    with running_stack(postgres, kafka_broker) as s:
        yield s


@pytest.fixture(scope="session")
def access(stack: Stack) -> Iterator[Access]:
    # Taken before any fuzzing: wrong passwords sent by the fuzzer throttle this address.
    identity: httpx.Client = admin_session(stack)
    token = access_token(stack, identity, "fuzz")
    cookie = "; ".join(f"{name}={value}" for name, value in identity.cookies.items())
    yield Access(identity_origin=stack.url("identity"), session_cookie=cookie, token=token)
    identity.close()
