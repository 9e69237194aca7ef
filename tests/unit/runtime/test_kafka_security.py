"""What a service tells its Kafka clients about itself, from its settings."""

from __future__ import annotations

import ssl

import pytest
from pydantic import ValidationError

from fireline_runtime.kafka_security import KafkaClientSettings, KafkaSecurity


@pytest.fixture(autouse=True)
def _no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The session's broker fixture gives this process the super user's (tests/conftest.py).
    for name in ("FIRELINE_KAFKA_SASL_USERNAME", "FIRELINE_KAFKA_SASL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_without_credentials_a_client_connects_in_plaintext_as_tansu_needs() -> None:
    options = KafkaClientSettings().kafka_security.client_options()
    assert options == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity().faststream() is None


def test_a_services_credentials_make_it_a_scram_sha_512_principal() -> None:
    settings = KafkaClientSettings(kafka_sasl_username="incidents", kafka_sasl_password="s3cret")
    assert settings.kafka_security.client_options() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "incidents",
        "sasl_plain_password": "s3cret",
    }
    assert "s3cret" not in repr(settings.kafka_security)
    assert "s3cret" not in repr(settings)


def test_tls_turns_it_into_sasl_ssl_checking_the_brokers_certificates() -> None:
    security = KafkaSecurity(username="auth", password="p", tls=True)
    options = security.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_a_user_name_without_a_password_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="go together"):
        KafkaClientSettings(kafka_sasl_username="auth")
