"""Which event becomes which audit entry: one builder per event type, in one table.

Adding an audited event is one builder and one line in ``BUILDERS`` (and the topic in
``AUDITED_TOPICS`` if it is new). A builder copies only what an admin reviewing the log needs,
field by field: never a digest, a ciphertext, a token or a password, whatever the event carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fireline_contracts import (
    INTEGRATIONS,
    KEY_EXCHANGE_FAILURES,
    KEYS,
    NOTIFICATIONS,
    SESSIONS,
    USERS,
    EventEnvelope,
    IntegrationChanged,
    IntegrationCreated,
    IntegrationDeleted,
    IntegrationPayload,
    KeyCreated,
    KeyExchangeFailed,
    KeyRenamed,
    KeyRevoked,
    KeyRotated,
    LoginFailed,
    LoginSucceeded,
    SessionRevoked,
    SigningSecretsRotated,
    TopicSpec,
    UserCreated,
    UserDeactivated,
    UserPayload,
    UserUpdated,
    WebhookEndpointChanged,
    WebhookEndpointCreated,
    WebhookEndpointDeleted,
    WebhookEndpointDisabled,
    WebhookEndpointPayload,
    WebhookEndpointSecretRotated,
)
from fireline_identity.domain.audit import Actor, ActorType, AuditAction, AuditEntry, Target

AUDITED_TOPICS: tuple[TopicSpec, ...] = (
    KEYS,
    USERS,
    SESSIONS,
    KEY_EXCHANGE_FAILURES,
    INTEGRATIONS,
    NOTIFICATIONS,
)
"""Topics the audit store consumes (not every event on them is audited: see ``BUILDERS``)."""

Builder = Callable[[Any], AuditEntry]


def _entry(
    event: EventEnvelope,
    action: AuditAction,
    actor: Actor,
    target: Target,
    *,
    address: str | None = None,
    **details: Any,
) -> AuditEntry:
    return AuditEntry(
        id=event.event_id,
        org_id=event.org_id,
        occurred_at=event.occurred_at,
        action=action,
        actor=actor,
        target=target,
        address=address,
        details=details,
    )


def _key(key_id: Any) -> Target:
    return Target("key", key_id)


def key_created(event: KeyCreated) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.KEY_CREATED,
        Actor.user_or_system(p.created_by),
        _key(p.key_id),
        name=p.name,
        scopes=list(p.scopes),
        expires_at=p.expires_at.isoformat() if p.expires_at else None,
    )


def key_renamed(event: KeyRenamed) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.KEY_RENAMED,
        Actor.user_or_system(p.renamed_by),
        _key(p.key_id),
        name=p.name,
    )


def key_rotated(event: KeyRotated) -> AuditEntry:
    p = event.payload
    # Never the digests the event carries: when the old secret stops working is what matters.
    until = p.previous_valid_until
    return _entry(
        event,
        AuditAction.KEY_ROTATED,
        Actor.user_or_system(p.rotated_by),
        _key(p.key_id),
        name=p.name,
        previous_secret_valid_until=until.isoformat() if until else None,
    )


def key_revoked(event: KeyRevoked) -> AuditEntry:
    p = event.payload
    if p.reason == "leaked":
        # Revoked because GitHub's secret scanning found the secret in public: no user acted.
        return _entry(
            event,
            AuditAction.KEY_REVOKED,
            Actor(ActorType.SECRET_SCANNER),
            _key(p.key_id),
            reason="leaked",
            report_url=p.report_url,
        )
    return _entry(
        event,
        AuditAction.KEY_REVOKED,
        Actor.user_or_system(p.revoked_by),
        _key(p.key_id),
        reason=p.reason or "revoked",
    )


def key_exchange_failed(event: KeyExchangeFailed) -> AuditEntry:
    p = event.payload
    # The key is both actor and target: whoever tried presented it as their credential.
    return _entry(
        event,
        AuditAction.KEY_EXCHANGE_FAILED,
        Actor(ActorType.KEY, p.key_id),
        _key(p.key_id),
        address=p.addresses[0] if p.addresses else None,
        attempts=p.attempts,
        window_start=p.window_start.isoformat(),
        window_s=p.window_s,
        addresses=list(p.addresses),
    )


def _user_details(p: UserPayload) -> dict[str, Any]:
    return {"email": p.email, "name": p.name, "role": p.role, "active": p.active}


def _user_builder(
    action: AuditAction,
) -> Callable[[UserCreated | UserUpdated | UserDeactivated], AuditEntry]:
    def build(event: UserCreated | UserUpdated | UserDeactivated) -> AuditEntry:
        p = event.payload
        return _entry(
            event,
            action,
            Actor.user_or_system(p.changed_by),
            Target("user", p.user_id),
            **_user_details(p),
        )

    return build


def login_succeeded(event: LoginSucceeded) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.LOGIN_SUCCEEDED,
        Actor(ActorType.USER, p.user_id),
        Target("user", p.user_id),
        address=p.address,
        email=p.email,
        session_id=str(p.session_id),
    )


def login_failed(event: LoginFailed) -> AuditEntry:
    p = event.payload
    # Nobody proved who they were, so the actor is unknown (system); the target is the account.
    return _entry(
        event,
        AuditAction.LOGIN_FAILED,
        Actor(ActorType.SYSTEM),
        Target("user", p.user_id),
        address=p.address,
        email=p.email,
    )


def session_revoked(event: SessionRevoked) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.SESSION_REVOKED,
        Actor.user_or_system(p.revoked_by),
        Target("session", p.session_id),
        user_id=str(p.user_id),
        reason=p.reason,
    )


def _integration_actor(p: IntegrationPayload) -> Actor:
    return Actor(ActorType.KEY, p.changed_by_key) if p.changed_by_key else Actor(ActorType.SYSTEM)


def _integration_builder(
    action: AuditAction,
) -> Callable[[IntegrationCreated | IntegrationDeleted], AuditEntry]:
    def build(event: IntegrationCreated | IntegrationDeleted) -> AuditEntry:
        p = event.payload
        target = Target("integration", p.integration_id)
        return _entry(event, action, _integration_actor(p), target, name=p.name)

    return build


def integration_changed(event: IntegrationChanged) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.INTEGRATION_CHANGED,
        _integration_actor(p),
        Target("integration", p.integration_id),
        name=p.name,
        changed=list(p.changed),
    )


def signing_secrets_rotated(event: SigningSecretsRotated) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.INTEGRATION_SECRETS_ROTATED,
        _integration_actor(p),
        Target("integration", p.integration_id),
        name=p.name,
        added=p.added,
        retired=p.retired,
    )


def _endpoint_builder(
    action: AuditAction,
) -> Callable[
    [WebhookEndpointCreated | WebhookEndpointSecretRotated | WebhookEndpointDeleted], AuditEntry
]:
    def build(
        event: WebhookEndpointCreated | WebhookEndpointSecretRotated | WebhookEndpointDeleted,
    ) -> AuditEntry:
        p = event.payload
        return _entry(event, action, _endpoint_actor(p), _endpoint(p.endpoint_id), host=p.host)

    return build


def _endpoint_actor(p: WebhookEndpointPayload) -> Actor:
    return Actor(ActorType.KEY, p.changed_by_key) if p.changed_by_key else Actor(ActorType.SYSTEM)


def _endpoint(endpoint_id: Any) -> Target:
    return Target("webhook_endpoint", endpoint_id)


def webhook_endpoint_changed(event: WebhookEndpointChanged) -> AuditEntry:
    p = event.payload
    return _entry(
        event,
        AuditAction.WEBHOOK_ENDPOINT_CHANGED,
        _endpoint_actor(p),
        _endpoint(p.endpoint_id),
        host=p.host,
        changed=list(p.changed),
    )


def webhook_endpoint_disabled(event: WebhookEndpointDisabled) -> AuditEntry:
    p = event.payload
    # The service disabled it, not a person; the host only, as the URL may carry a token.
    return _entry(
        event,
        AuditAction.WEBHOOK_ENDPOINT_DISABLED,
        Actor(ActorType.SYSTEM),
        _endpoint(p.endpoint_id),
        host=p.host,
        reason=p.reason,
        failing_since=p.failing_since.isoformat() if p.failing_since else None,
    )


BUILDERS: dict[type[EventEnvelope], Builder] = {
    KeyCreated: key_created,
    KeyRenamed: key_renamed,
    KeyRotated: key_rotated,
    KeyRevoked: key_revoked,
    KeyExchangeFailed: key_exchange_failed,
    UserCreated: _user_builder(AuditAction.USER_CREATED),
    UserUpdated: _user_builder(AuditAction.USER_UPDATED),
    UserDeactivated: _user_builder(AuditAction.USER_DEACTIVATED),
    LoginSucceeded: login_succeeded,
    LoginFailed: login_failed,
    SessionRevoked: session_revoked,
    IntegrationCreated: _integration_builder(AuditAction.INTEGRATION_CREATED),
    IntegrationChanged: integration_changed,
    SigningSecretsRotated: signing_secrets_rotated,
    IntegrationDeleted: _integration_builder(AuditAction.INTEGRATION_DELETED),
    WebhookEndpointCreated: _endpoint_builder(AuditAction.WEBHOOK_ENDPOINT_CREATED),
    WebhookEndpointChanged: webhook_endpoint_changed,
    WebhookEndpointSecretRotated: _endpoint_builder(AuditAction.WEBHOOK_ENDPOINT_SECRET_ROTATED),
    WebhookEndpointDeleted: _endpoint_builder(AuditAction.WEBHOOK_ENDPOINT_DELETED),
    WebhookEndpointDisabled: webhook_endpoint_disabled,
}
"""Event class → the audit entry it becomes; events not listed are not audited."""


def may_audit(event: EventEnvelope) -> bool:
    """Whether ``event`` is of a kind that can become an audit entry (its builder may still find
    nothing to record in it)."""
    return type(event) in BUILDERS


def entry_for(event: EventEnvelope) -> AuditEntry | None:
    """The audit entry ``event`` becomes, or None when it is not audited."""
    build = BUILDERS.get(type(event))
    return build(event) if build is not None else None
