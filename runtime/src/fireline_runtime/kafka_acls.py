"""The broker's ACLs, derived from the topic registry: who may write and read each topic.

``fireline_contracts.topics`` names each topic's ``owner`` (the one service that writes it) and its
``readers``. Each service is a Kafka principal, ``User:<service>`` (its SCRAM user name is the
service's name), and gets exactly:

* on each topic it owns: Write, Describe, Create (it creates its topics at start-up);
* on each topic it reads: Read, Describe, Create, and on that topic's ``.dlq``: Write, Describe,
  Create (a poison record is dead-lettered by its consumer);
* on its consumer group ``fireline-<service>``: Read.

Nothing else: no principal but the broker's own (a super user) may write another service's topic,
and an unauthenticated client may do nothing at all (the authorizer denies what no ACL allows).
An idempotent producer needs no cluster-wide grant: Write on a topic suffices since Kafka 3.0.

``python -m fireline_runtime.kafka_acls`` applies them with an admin principal's credentials
(``KAFKA_BOOTSTRAP_SERVERS``, ``FIRELINE_TOPIC_PREFIX``, ``FIRELINE_KAFKA_SASL_*``), and with
``FIRELINE_KAFKA_SERVICE_PASSWORDS`` (``identity=...,auth=...``) first creates or updates the
services' SCRAM users, as the compose file's one-shot ``kafka-setup`` service does. Creating an
ACL that exists changes nothing, and a user's password is set to the same value: it is safe to run
on every start. aiokafka has no admin call for ACLs (its CreateAcls versions are older
than Kafka 4 accepts) or SCRAM users, so both requests are built here on aiokafka's protocol types:
one request for all ACLs, which keeps a test broker's start fast.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
)
from aiokafka.protocol.types import TaggedFields as Tags
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from fireline_contracts import ALL_TOPICS, TopicSpec, dlq_name, topic_name
from fireline_runtime.kafka_security import KafkaClientSettings, KafkaSecurity
from fireline_runtime.settings_base import ENV_PREFIX


class Resource(IntEnum):
    """Kafka's ResourceType codes."""

    TOPIC = 2
    GROUP = 3


class Operation(IntEnum):
    """Kafka's AclOperation codes."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


_LITERAL = 3
_ALLOW = 3


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule on one literally named resource, from any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation


def principal(service: str) -> str:
    return f"User:{service}"


def group_id(service: str, prefix: str = "") -> str:
    """The consumer group a service's consumers join (fireline_runtime.messaging.consuming).

    Prefixed like the topics: deployments (or test stacks) sharing a broker under different
    prefixes must not share groups. A group's leader assigns every member's topics, and with
    ACLs it cannot even describe another prefix's topics, so a member of the other deployment
    was assigned nothing at all."""
    return f"{prefix}fireline-{service}"


def fireline_acls(prefix: str = "", topics: Sequence[TopicSpec] = ALL_TOPICS) -> list[Acl]:
    """Every ACL Fireline's services need on topics named with ``prefix``, and no other."""
    acls: set[Acl] = set()

    def allow(service: str, resource: Resource, name: str, *ops: Operation) -> None:
        acls.update(Acl(principal(service), resource, name, op) for op in ops)

    for spec in topics:
        name = topic_name(spec, prefix)
        allow(spec.owner, Resource.TOPIC, name, Operation.WRITE, Operation.DESCRIBE)
        allow(spec.owner, Resource.TOPIC, name, Operation.CREATE)
        allow(spec.owner, Resource.TOPIC, dlq_name(name), Operation.CREATE, Operation.DESCRIBE)
        for reader in spec.readers:
            allow(reader, Resource.TOPIC, name, Operation.READ, Operation.DESCRIBE)
            allow(reader, Resource.TOPIC, name, Operation.CREATE)
            allow(reader, Resource.TOPIC, dlq_name(name), Operation.WRITE, Operation.DESCRIBE)
            allow(reader, Resource.TOPIC, dlq_name(name), Operation.CREATE)
            allow(reader, Resource.GROUP, group_id(reader, prefix), Operation.READ)
    return sorted(acls)


def _results(*first: tuple[str, Any]) -> Schema:
    """An admin response's body: a throttle time, then one error code and message per item."""
    error = (("error_code", Int16), ("error_message", CompactString("utf-8")))
    item = (*first, *error, ("tags", Tags))
    return Schema(("throttle_time_ms", Int32), ("results", CompactArray(*item)), ("tags", Tags))


class _CreateAclsResponseV2(Response):  # type: ignore[misc]  # aiokafka is untyped here
    API_KEY = 30
    API_VERSION = 2
    SCHEMA = _results()


class _CreateAclsResponseV3(_CreateAclsResponseV2):
    API_VERSION = 3


_CREATIONS = Schema(
    (
        "creations",
        CompactArray(
            ("resource_type", Int8),
            ("resource_name", CompactString("utf-8")),
            ("resource_pattern_type", Int8),
            ("principal", CompactString("utf-8")),
            ("host", CompactString("utf-8")),
            ("operation", Int8),
            ("permission_type", Int8),
            ("tags", Tags),
        ),
    ),
    ("tags", Tags),
)


class _CreateAclsV2(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 30
    API_VERSION = 2
    RESPONSE_TYPE = _CreateAclsResponseV2
    SCHEMA = _CREATIONS


class _CreateAclsV3(_CreateAclsV2):
    # The same body; version 3 is the newest Kafka 4 accepts.
    API_VERSION = 3
    RESPONSE_TYPE = _CreateAclsResponseV3


class _CreateAcls(Request[_CreateAclsV2 | _CreateAclsV3]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, acls: Iterable[Acl]) -> None:
        self._creations: list[tuple[Any, ...]] = [
            (int(a.resource), a.name, _LITERAL, a.principal, "*", int(a.operation), _ALLOW, {})
            for a in acls
        ]

    def build(
        self, request_struct_class: type[_CreateAclsV2 | _CreateAclsV3]
    ) -> _CreateAclsV2 | _CreateAclsV3:
        return request_struct_class(self._creations, {})


class _AlterScramResponse(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = _results(("user", CompactString("utf-8")))


class _AlterScramV0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", Tags)),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", Tags),
            ),
        ),
        ("tags", Tags),
    )


_SCRAM_SHA_512 = 2
_ITERATIONS = 8192


class _AlterScram(Request[_AlterScramV0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, passwords: dict[str, str]) -> None:
        # The client sends the salted password (RFC 5802's Hi()), never the password itself.
        self._upsertions: list[tuple[Any, ...]] = []
        for name, password in passwords.items():
            salt = secrets.token_bytes(32)
            salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
            self._upsertions.append((name, _SCRAM_SHA_512, _ITERATIONS, salt, salted, {}))

    def build(self, request_struct_class: type[_AlterScramV0]) -> _AlterScramV0:
        return request_struct_class([], self._upsertions, {})


class AclRefused(RuntimeError):
    """The broker refused to create some ACLs or users (the principal is no super user, or a
    bad rule)."""


async def _send(bootstrap_servers: str, admin: KafkaSecurity, request: Any) -> Any:
    from fireline_runtime.messaging.producing import server_list

    client = AIOKafkaAdminClient(
        bootstrap_servers=server_list(bootstrap_servers), **admin.client_options()
    )
    await client.start()
    try:
        return await client._send_request(request)
    finally:
        await client.close()


async def apply_acls(bootstrap_servers: str, admin: KafkaSecurity, acls: Sequence[Acl]) -> None:
    """Create ``acls`` on the cluster, as the ``admin`` principal, in one request."""
    response = await _send(bootstrap_servers, admin, _CreateAcls(acls))
    failed = [
        (acl, result[1])
        for acl, result in zip(acls, response.results, strict=True)
        if result[0] != 0
    ]
    if failed:
        raise AclRefused(f"{len(failed)} ACLs refused, first {failed[0][0]}: {failed[0][1]}")


async def upsert_scram_users(
    bootstrap_servers: str, admin: KafkaSecurity, passwords: dict[str, str]
) -> None:
    """Create the SCRAM-SHA-512 users named in ``passwords``, or set their passwords."""
    response = await _send(bootstrap_servers, admin, _AlterScram(passwords))
    failed = [(user, message) for user, code, message, _ in response.results if code != 0]
    if failed:
        raise AclRefused(f"SCRAM users refused: {failed}")


class _AclSettings(KafkaClientSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    topic_prefix: str = ""
    kafka_service_passwords: SecretStr | None = Field(
        default=None, description="``service=password,...``: the services' SCRAM users to set."
    )

    @property
    def service_passwords(self) -> dict[str, str]:
        raw = self.kafka_service_passwords
        pairs = [] if raw is None else raw.get_secret_value().split(",")
        found = dict(pair.strip().split("=", 1) for pair in pairs if pair.strip())
        unknown = sorted(set(found) - {spec.owner for spec in ALL_TOPICS})
        if unknown or not all(found.values()):
            raise ValueError(f"FIRELINE_KAFKA_SERVICE_PASSWORDS: unknown or empty {unknown}")
        return found


async def _setup(settings: _AclSettings, acls: Sequence[Acl]) -> None:
    bootstrap, admin = settings.kafka_bootstrap_servers, settings.kafka_security
    if passwords := settings.service_passwords:
        await upsert_scram_users(bootstrap, admin, passwords)
        print(f"SCRAM users set: {', '.join(sorted(passwords))}")
    await apply_acls(bootstrap, admin, acls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create Fireline's Kafka ACLs (idempotent).")
    parser.add_argument("--print", action="store_true", help="list them; connect nowhere")
    args = parser.parse_args(argv)
    settings = _AclSettings()
    acls = fireline_acls(settings.topic_prefix)
    if args.print:
        for acl in acls:
            print(acl.principal, acl.resource.name, acl.name, acl.operation.name)
        return 0
    asyncio.run(_setup(settings, acls))
    print(f"{len(acls)} ACLs in place for prefix {settings.topic_prefix!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
