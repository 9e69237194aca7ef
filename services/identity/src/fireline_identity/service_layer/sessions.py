"""Use cases for human sessions: log in, log out, resolve the caller, prune old rows."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from fireline_contracts import utc_now
from fireline_identity.adapters import login_failures, orgs, sessions, users
from fireline_identity.adapters.passwords import PasswordHasher
from fireline_identity.domain.errors import InvalidCredentials, TooManyAttempts, Unauthenticated
from fireline_identity.domain.login_throttle import (
    ACCOUNT_SLOWDOWN,
    KNOWN_ADDRESS_TTL,
    PER_ADDRESS,
    PER_PAIR,
    WINDOW,
    strictest,
)
from fireline_identity.domain.sessions import (
    SessionPolicy,
    SessionUser,
    new_token,
    token_digest,
)
from fireline_identity.domain.users import User, email_lookup_key
from fireline_identity.service_layer.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: SessionUser
    expires_at: datetime


async def log_in(
    *,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    policy: SessionPolicy,
    email: str,
    password: str,
    address: str,
) -> LoginResult:
    """Check the credentials (throttled) and open a session; one error for every bad case."""
    account = email_lookup_key(email)
    now = utc_now()
    async with uow.begin() as tx:
        await login_failures.lock(tx.conn, account=account, address=address)
        since = now - WINDOW
        waits = [
            PER_PAIR.retry_after(
                await login_failures.recent_for_pair(tx.conn, account, address, since), now=now
            ),
            PER_ADDRESS.retry_after(
                await login_failures.recent_for_address(tx.conn, address, since), now=now
            ),
        ]
        known = await login_failures.is_known_address(
            tx.conn, account=account, address=address, since=now - KNOWN_ADDRESS_TTL
        )
        if not known:
            waits.append(
                ACCOUNT_SLOWDOWN.retry_after(
                    await login_failures.recent_for_account(tx.conn, account, since), now=now
                )
            )
        wait = strictest(*waits)
        if wait is not None:
            log.warning("login refused: too many failed attempts", extra={"address": address})
            raise TooManyAttempts(wait)
        # Counted as a failure up front, so concurrent guesses cannot all pass the check above;
        # a correct password removes it again.
        attempt_id = await login_failures.insert(tx.conn, account=account, address=address, at=now)
        candidates = await users.login_candidates(tx.conn, account)

    # Hashing happens outside the transaction: no lock or connection is held while it runs.
    matched: tuple[User, str] | None = None
    for user, password_hash in candidates:
        if await hasher.verify(password_hash, password):
            matched = (user, password_hash)
            break
    if not candidates:
        await hasher.burn(password)
    if matched is None:
        log.info("login failed", extra={"address": address})
        raise InvalidCredentials

    user, password_hash = matched
    rehashed = await hasher.hash(password) if hasher.needs_rehash(password_hash) else None
    token = new_token()
    session_id = uuid.uuid4()
    expires_at = now + policy.absolute_timeout
    async with uow.begin() as tx:
        await login_failures.succeeded(
            tx.conn, account=account, address=address, attempt_id=attempt_id, at=now
        )
        if rehashed is not None:
            await users.set_password_hash(tx.conn, user.id, rehashed)
        await sessions.insert(
            tx.conn,
            session_id=session_id,
            token_digest=token_digest(token),
            user_id=user.id,
            org_id=user.org_id,
            now=now,
            expires_at=expires_at,
        )
        org_name = await orgs.name_of(tx.conn, user.org_id) or ""
    log.info("login succeeded", extra={"user_id": str(user.id), "org_id": str(user.org_id)})
    return LoginResult(
        token=token,
        expires_at=expires_at,
        user=SessionUser(
            session_id=session_id,
            user_id=user.id,
            org_id=user.org_id,
            org_name=org_name,
            email=user.email,
            name=user.name,
            role=user.role,
        ),
    )


async def log_out(*, uow: UnitOfWork, token: str | None) -> None:
    """Revoke the session this token opened (no-op for an unknown or missing token)."""
    if not token:
        return
    async with uow.begin() as tx:
        await sessions.revoke(tx.conn, token_digest(token), utc_now())


async def authenticate(*, uow: UnitOfWork, policy: SessionPolicy, token: str | None) -> SessionUser:
    """The caller behind a session token, or :class:`Unauthenticated`."""
    if not token:
        raise Unauthenticated("no session")
    now = utc_now()
    async with uow.begin() as tx:
        row = await sessions.find(tx.conn, token_digest(token))
        if (
            row is None
            or row.revoked_at is not None
            or not row.user_active
            or not policy.is_live(last_seen_at=row.last_seen_at, expires_at=row.expires_at, now=now)
        ):
            raise Unauthenticated("session expired or revoked")
        if policy.needs_touch(last_seen_at=row.last_seen_at, now=now):
            await sessions.touch(tx.conn, row.id, now)
    return SessionUser(
        session_id=row.id,
        user_id=row.user_id,
        org_id=row.org_id,
        org_name=row.org_name,
        email=row.email,
        name=row.name,
        role=row.role,
    )


async def prune(*, uow: UnitOfWork, policy: SessionPolicy) -> None:
    """Delete sessions and failed-login records that can no longer matter."""
    now = utc_now()
    async with uow.begin() as tx:
        dropped = await sessions.prune(
            tx.conn, ended_before=now, idle_since=now - policy.idle_timeout
        )
        forgotten = await login_failures.prune(
            tx.conn, before=now - WINDOW, known_before=now - KNOWN_ADDRESS_TTL
        )
    if dropped or forgotten:
        log.debug("pruned", extra={"sessions": dropped, "login_failures": forgotten})
