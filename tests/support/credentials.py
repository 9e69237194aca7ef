"""Credentials on a running stack, as a client gets them: the admin's session and a token."""

from __future__ import annotations

import secrets
import time
import uuid

import httpx

from support.stack import Stack


def admin_session(stack: Stack) -> httpx.Client:
    """An identity client logged in as the stack's admin (the session cookie in its jar)."""
    return session(stack, stack.admin_email, stack.admin_password)


def session(stack: Stack, email: str, password: str) -> httpx.Client:
    """An identity client logged in as ``email`` (the session cookie in its jar)."""
    identity = httpx.Client(base_url=stack.url("identity"), timeout=10)
    r = identity.post("/v1/session", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return identity


def access_token(stack: Stack, identity: httpx.Client, name: str) -> str:
    """A token for a new API key named ``name``, with every scope."""
    return exchange(stack, new_key(identity, name))


def new_key(identity: httpx.Client, name: str) -> dict[str, str]:
    """A new API key with every scope (its ``id`` and, this once, its ``key``)."""
    r = identity.post("/v1/api-keys", json={"name": name})
    assert r.status_code == 201, r.text
    key: dict[str, str] = r.json()
    return key


def exchange(stack: Stack, key: dict[str, str]) -> str:
    """The key exchanged for a token, retried until the key has reached auth through Kafka."""
    return exchange_at(stack.url("auth"), (key["id"], key["key"]))


def exchange_at(auth_url: str, credentials: tuple[str, str], *, timeout: float = 30.0) -> str:
    """``(key id, secret)`` exchanged at ``auth_url``, retried while the key is on its way."""
    deadline = time.monotonic() + timeout
    while True:
        t = httpx.post(
            f"{auth_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=credentials,
            timeout=10,
        )
        if t.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert t.status_code == 200, t.text
    token: str = t.json()["access_token"]
    return token


def new_org(stack: Stack) -> tuple[str, str]:
    """Another org on the stack, made with identity's CLI: its admin's (email, password)."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    password = secrets.token_urlsafe(16)
    # `=`: a password token_urlsafe starts with "-" would otherwise read as an option.
    created = stack.cli(
        "org", "create", "--name", f"other-{uuid.uuid4().hex[:6]}",
        "--admin-email", email, f"--admin-password={password}",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return email, password
