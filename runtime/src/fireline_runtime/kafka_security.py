"""How a Fireline client proves who it is to Kafka: SASL/SCRAM, over TLS if the deployment has it.

Each service is its own Kafka principal (its SCRAM user name), and the broker's ACLs
(:mod:`fireline_runtime.kafka_acls`) let a principal write only the topics its service owns and
read only those it consumes. The credentials come from settings (``FIRELINE_KAFKA_SASL_*``), never
from code. Without them a client connects in plaintext and unauthenticated, which only a broker
with no SASL listener accepts: Tansu, the zero-Java development fallback, has none, so a stack on
it is unauthenticated and for development only.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fireline_runtime.settings_base import ENV_PREFIX

Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
"""PLAIN is for a super user set up in the broker's own configuration, where SCRAM users are
not there yet (docker-compose.yml's ``kafka-setup``); services use SCRAM."""


@dataclass(frozen=True)
class KafkaSecurity:
    """One principal's credentials and transport; ``username`` None means no SASL at all."""

    username: str | None = None
    password: str = field(default="", repr=False)
    mechanism: Mechanism = "SCRAM-SHA-512"
    tls: bool = False
    cafile: str | None = None

    @property
    def protocol(self) -> str:
        if self.username is None:
            return "SSL" if self.tls else "PLAINTEXT"
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        # Verifies the broker's certificate and host name: against the deployment's CA if one
        # is given, else the system's.
        return ssl.create_default_context(cafile=self.cafile)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin client."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.username is not None:
            options |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options

    def faststream(self) -> BaseSecurity | None:
        """The same, as FastStream's KafkaBroker takes it."""
        if self.username is None:
            return BaseSecurity(ssl_context=self.ssl_context()) if self.tls else None
        kinds = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256}
        kind = kinds.get(self.mechanism, SASLPlaintext)
        return kind(self.username, self.password, ssl_context=self.ssl_context())


class KafkaClientSettings(BaseSettings):
    """The Kafka client's credentials; every service's settings include them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, populate_by_name=True
    )

    kafka_sasl_username: str | None = Field(
        default=None,
        min_length=1,
        description="This service's Kafka principal (a SCRAM user). Unset: no SASL, for a "
        "broker without authentication (Tansu in development); Fireline's brokers refuse it.",
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="That principal's SCRAM password."
    )
    kafka_sasl_mechanism: Mechanism = Field(
        default="SCRAM-SHA-512",
        description="SASL mechanism: SCRAM-SHA-512 (services), SCRAM-SHA-256, or PLAIN "
        "(only for a super user defined in the broker's own configuration).",
    )
    kafka_tls: bool = Field(
        default=False,
        description="Connect to the brokers over TLS (SASL_SSL), checking their certificates.",
    )
    kafka_ssl_cafile: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (with "
        "FIRELINE_KAFKA_TLS); unset: the system's CAs.",
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> KafkaClientSettings:
        if (self.kafka_sasl_username is None) != (self.kafka_sasl_password is None):
            raise ValueError(
                "FIRELINE_KAFKA_SASL_USERNAME and FIRELINE_KAFKA_SASL_PASSWORD go together"
            )
        return self

    @property
    def kafka_security(self) -> KafkaSecurity:
        password = self.kafka_sasl_password
        return KafkaSecurity(
            username=self.kafka_sasl_username,
            password="" if password is None else password.get_secret_value(),
            mechanism=self.kafka_sasl_mechanism,
            tls=self.kafka_tls,
            cafile=self.kafka_ssl_cafile,
        )
