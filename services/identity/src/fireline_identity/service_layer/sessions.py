"""Use cases for human sessions: log in, log out, resolve the caller, prune old rows."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from fireline_contracts import utc_now
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
    NewSession,
    SessionPolicy,
    SessionUser,
    StoredSession,
    new_token,
    token_digest,
)
from fireline_identity.domain.users import User, email_lookup_key
from fireline_identity.service_layer import events
from fireline_identity.service_layer.ports import PasswordHasher
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
    async with uow:
        await _refuse_if_throttled(uow, account=account, address=address, now=now)
        # Counted as a failure up front, so concurrent guesses cannot all pass the check above;
        # a correct password removes it again.
        attempt_id = await uow.login_failures.insert(account=account, address=address, at=now)
        candidates = await uow.users.login_candidates(account)

    # Hashing happens outside the transaction: no lock or connection is held while it runs.
    matched = await _match(hasher, candidates, password)
    if matched is None:
        log.info("login failed", extra={"address": address})
        if candidates:
            # For each org whose user was named, so its audit log shows the attempt; a login
            # naming nobody belongs to no org and is only logged.
            async with uow:
                for candidate, _ in candidates:
                    await uow.publish(events.login_failed(candidate, address=address))
        raise InvalidCredentials

    user, password_hash = matched
    rehashed = await hasher.hash(password) if hasher.needs_rehash(password_hash) else None
    token = new_token()
    session_id = uuid.uuid4()
    expires_at = now + policy.absolute_timeout
    async with uow:
        await uow.login_failures.succeeded(
            account=account, address=address, attempt_id=attempt_id, at=now
        )
        if rehashed is not None:
            await uow.users.set_password_hash(user.id, rehashed)
        await uow.sessions.insert(
            NewSession(
                id=session_id,
                token_digest=token_digest(token),
                user_id=user.id,
                org_id=user.org_id,
                started_at=now,
                expires_at=expires_at,
            )
        )
        await uow.publish(events.login_succeeded(user, session_id=session_id, address=address))
        org_name = await uow.orgs.name_of(user.org_id) or ""
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


async def _refuse_if_throttled(
    uow: UnitOfWork, *, account: str, address: str, now: datetime
) -> None:
    """:class:`TooManyAttempts` when any throttle refuses; leaves this login's locks held."""
    failures = uow.login_failures
    await failures.lock(account=account, address=address)
    since = now - WINDOW
    waits = [
        PER_PAIR.retry_after(await failures.recent_for_pair(account, address, since), now=now),
        PER_ADDRESS.retry_after(await failures.recent_for_address(address, since), now=now),
    ]
    known = await failures.is_known_address(
        account=account, address=address, since=now - KNOWN_ADDRESS_TTL
    )
    if not known:
        waits.append(
            ACCOUNT_SLOWDOWN.retry_after(await failures.recent_for_account(account, since), now=now)
        )
    wait = strictest(*waits)
    if wait is not None:
        log.warning("login refused: too many failed attempts", extra={"address": address})
        raise TooManyAttempts(wait)


async def _match(
    hasher: PasswordHasher, candidates: list[tuple[User, str]], password: str
) -> tuple[User, str] | None:
    """The first candidate whose hash the password matches, with that hash."""
    for user, password_hash in candidates:
        if await hasher.verify(password_hash, password):
            return user, password_hash
    if not candidates:
        # An unknown email costs as much as a wrong password, so timing reveals nothing.
        await hasher.burn(password)
    return None


async def log_out(*, uow: UnitOfWork, token: str | None) -> None:
    """Revoke the session this token opened (no-op for an unknown or missing token)."""
    if not token:
        return
    async with uow:
        ended = await uow.sessions.revoke(token_digest(token), utc_now())
        if ended is not None:
            await uow.publish(events.session_revoked(ended, reason="logout", by=ended.user_id))


async def authenticate(*, uow: UnitOfWork, policy: SessionPolicy, token: str | None) -> SessionUser:
    """The caller behind a session token, or :class:`Unauthenticated`."""
    if not token:
        raise Unauthenticated("no session")
    now = utc_now()
    async with uow:
        found = await uow.sessions.find(token_digest(token))
        if found is None or not _is_live(found, policy, now):
            raise Unauthenticated("session expired or revoked")
        if policy.needs_touch(last_seen_at=found.last_seen_at, now=now):
            await uow.sessions.touch(found.caller.session_id, now)
    return found.caller


def _is_live(session: StoredSession, policy: SessionPolicy, now: datetime) -> bool:
    return (
        session.revoked_at is None
        and session.user_active
        and policy.is_live(
            last_seen_at=session.last_seen_at, expires_at=session.expires_at, now=now
        )
    )


async def prune(*, uow: UnitOfWork, policy: SessionPolicy) -> None:
    """Delete sessions and failed-login records that can no longer matter."""
    now = utc_now()
    async with uow:
        dropped = await uow.sessions.prune(ended_before=now, idle_since=now - policy.idle_timeout)
        forgotten = await uow.login_failures.prune(
            before=now - WINDOW, known_before=now - KNOWN_ADDRESS_TTL
        )
    if dropped or forgotten:
        log.debug("pruned", extra={"sessions": dropped, "login_failures": forgotten})
