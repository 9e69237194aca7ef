"""Integration rules: signing secrets (one or two active, never more), names, URLs, labels."""

from __future__ import annotations

import uuid

import pytest

from fireline_pagerduty_ingest.domain.errors import InvalidIntegration
from fireline_pagerduty_ingest.domain.integration import (
    MAX_ACTIVE_SECRETS,
    api_url_refusal,
    clean_api_token,
    clean_api_url,
    clean_label,
    clean_name,
    parse_allowed_hosts,
    plan_initial_secrets,
    plan_secret_change,
)

SECRET_A = "pd-secret-aaaaaaaaaaaaaaaa"
SECRET_B = "pd-secret-bbbbbbbbbbbbbbbb"
SECRET_C = "pd-secret-cccccccccccccccc"


def test_a_new_integration_without_secrets_gets_one_generated_secret() -> None:
    plan = plan_initial_secrets(None)

    assert plan.generated is not None
    assert plan.add == (plan.generated,)
    assert len(plan.generated) >= 32
    assert plan_initial_secrets([]).generated != plan.generated


def test_a_new_integration_keeps_the_callers_one_or_two_secrets_and_shows_none() -> None:
    assert plan_initial_secrets([SECRET_A]).add == (SECRET_A,)
    plan = plan_initial_secrets([SECRET_A, SECRET_B])

    assert plan.add == (SECRET_A, SECRET_B)
    assert plan.generated is None


def test_three_secrets_at_creation_are_refused() -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_initial_secrets([SECRET_A, SECRET_B, SECRET_C])

    assert refused.value.code == "secret_limit_reached"
    assert MAX_ACTIVE_SECRETS == 2


def test_a_pasted_secret_loses_its_surrounding_whitespace() -> None:
    assert plan_initial_secrets([f"  {SECRET_A}\n"]).add == (SECRET_A,)


@pytest.mark.parametrize("secret", ["short", "x" * 257, "   "])
def test_implausible_secrets_are_refused(secret: str) -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_initial_secrets([secret])

    assert refused.value.code == "invalid_signing_secret"


def test_the_same_secret_twice_is_refused() -> None:
    with pytest.raises(InvalidIntegration, match="twice"):
        plan_initial_secrets([SECRET_A, SECRET_A])


def test_adding_a_second_secret_for_a_rotation_is_allowed() -> None:
    current = uuid.uuid4()

    plan = plan_secret_change([current], add=[SECRET_B])

    assert plan.add == (SECRET_B,)
    assert plan.retire == frozenset()


def test_a_third_active_secret_is_refused() -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_secret_change([uuid.uuid4(), uuid.uuid4()], add=[SECRET_C])

    assert refused.value.code == "secret_limit_reached"


def test_generating_a_third_secret_is_refused_too() -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_secret_change([uuid.uuid4(), uuid.uuid4()], generate=True)

    assert refused.value.code == "secret_limit_reached"


def test_retiring_and_adding_in_one_request_stays_within_the_limit() -> None:
    old, current = uuid.uuid4(), uuid.uuid4()

    plan = plan_secret_change([old, current], retire=[old], add=[SECRET_C])

    assert plan.retire == frozenset({old})
    assert plan.add == (SECRET_C,)


def test_a_generated_rotation_secret_is_returned_once() -> None:
    plan = plan_secret_change([uuid.uuid4()], generate=True)

    assert plan.generated is not None
    assert plan.add == (plan.generated,)


def test_retiring_the_last_secret_is_refused() -> None:
    only = uuid.uuid4()

    with pytest.raises(InvalidIntegration) as refused:
        plan_secret_change([only], retire=[only])

    assert refused.value.code == "no_active_secret"


def test_retiring_a_secret_that_is_not_active_is_refused() -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_secret_change([uuid.uuid4()], retire=[uuid.uuid4()])

    assert refused.value.code == "unknown_signing_secret"


def test_replacing_all_secrets_retires_every_active_one() -> None:
    active = [uuid.uuid4(), uuid.uuid4()]

    plan = plan_secret_change(active, replace_with=[SECRET_C])

    assert plan.retire == frozenset(active)
    assert plan.add == (SECRET_C,)


@pytest.mark.parametrize(
    ("replacement", "code"),
    [([], "no_active_secret"), ([SECRET_A, SECRET_B, SECRET_C], "secret_limit_reached")],
)
def test_a_replacement_must_hold_one_or_two_secrets(replacement: list[str], code: str) -> None:
    with pytest.raises(InvalidIntegration) as refused:
        plan_secret_change([uuid.uuid4()], replace_with=replacement)

    assert refused.value.code == code


def test_a_replacement_cannot_be_combined_with_other_secret_changes() -> None:
    active = uuid.uuid4()

    with pytest.raises(InvalidIntegration, match="replaces every secret"):
        plan_secret_change([active], replace_with=[SECRET_A], retire=[active])


def test_names_are_trimmed_and_must_not_be_empty_or_huge() -> None:
    assert clean_name("  Checkout  ") == "Checkout"
    with pytest.raises(InvalidIntegration):
        clean_name("   ")
    with pytest.raises(InvalidIntegration):
        clean_name("x" * 201)


def test_blank_labels_and_tokens_mean_none() -> None:
    assert clean_label("  ", "default_severity") is None
    assert clean_label(" SEV1 ", "default_severity") == "SEV1"
    assert clean_api_token("  ") is None
    assert clean_api_token(" tok ") == "tok"


PAGERDUTY_HOSTS = parse_allowed_hosts("api.pagerduty.com, API.EU.pagerduty.com")
WITH_LOOPBACK = PAGERDUTY_HOSTS | {"127.0.0.1", "localhost", "::1"}


def test_the_allow_list_setting_is_read_as_lower_case_host_names() -> None:
    assert parse_allowed_hosts("api.pagerduty.com, API.EU.pagerduty.com") == {
        "api.pagerduty.com",
        "api.eu.pagerduty.com",
    }
    assert parse_allowed_hosts(" [::1] ,,localhost ") == {"::1", "localhost"}
    assert parse_allowed_hosts("") == frozenset()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.pagerduty.com", "https://api.pagerduty.com"),
        (" https://api.eu.pagerduty.com/ ", "https://api.eu.pagerduty.com"),
        ("HTTPS://API.PagerDuty.com", "HTTPS://API.PagerDuty.com"),
        ("https://api.pagerduty.com:443/", "https://api.pagerduty.com:443"),
    ],
)
def test_pagerdutys_https_api_urls_are_accepted_and_normalised(url: str, expected: str) -> None:
    assert clean_api_url(url, allowed_hosts=PAGERDUTY_HOSTS) == expected


@pytest.mark.parametrize(
    "url",
    [
        # Plain http would send the token across the network unencrypted.
        "http://api.pagerduty.com",
        "ftp://api.pagerduty.com",
        # Hosts that are not PagerDuty's: internal services, metadata endpoints, lookalikes.
        "https://evil.test",
        "https://169.254.169.254/latest/meta-data",
        "https://api.pagerduty.com.evil.test",
        "https://api.pagerduty.com.",
        "https://xn--pi-7ba.pagerduty.com",
        "https://api%2Epagerduty.com",
        # Parser tricks: the host Python sees is not the host another parser would connect to.
        "https://evil.test\\.api.pagerduty.com",
        "https://api.pagerduty.com:443:80",
        "https://api.pagerduty.com:99999",
        "https://api.pagerduty.com:x",
        "https://api.pagerduty.com\tevil.test",
        # Loopback is not PagerDuty unless an operator lists it (a local double in tests).
        "http://127.0.0.1:8080",
        "https://localhost",
        "http://[::1]:9000",
    ],
)
def test_api_urls_outside_the_allow_list_are_not_allowed(url: str) -> None:
    with pytest.raises(InvalidIntegration) as refused:
        clean_api_url(url, allowed_hosts=PAGERDUTY_HOSTS)

    assert refused.value.code == "api_url_not_allowed"
    assert api_url_refusal(url.strip(), PAGERDUTY_HOSTS) is not None


@pytest.mark.parametrize(
    "url",
    [
        # Credentials or a query are refused outright, whatever host they hide behind.
        "https://api.pagerduty.com@evil.test/",
        "https://api.pagerduty.com:443@evil.test",
        "https://evil.test\\@api.pagerduty.com",
        "https://user:pw@api.pagerduty.com",
        "https://evil.test/?x=api.pagerduty.com",
        "https://api.pagerduty.com?x=1",
        "https://evil.test#@api.pagerduty.com",
        # Not an absolute URL at all.
        "api.pagerduty.com",
        "https://",
        "https://api.pagerduty.com/" + "x" * 2000,
    ],
)
def test_unusable_api_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidIntegration):
        clean_api_url(url, allowed_hosts=WITH_LOOPBACK)


@pytest.mark.parametrize(
    "url",
    ["https://api.pagerduty.com@evil.test/", "https://evil.test/?x=api.pagerduty.com"],
)
def test_the_enrichment_check_alone_also_refuses_hidden_hosts(url: str) -> None:
    # The check the client repeats before each call, on URLs stored before any rule changed.
    assert api_url_refusal(url, PAGERDUTY_HOSTS) is not None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:1234/", "http://[::1]:9000", "https://localhost"],
)
def test_loopback_may_use_plain_http_when_listed(url: str) -> None:
    assert clean_api_url(url, allowed_hosts=WITH_LOOPBACK) == url.rstrip("/")


def test_plain_http_is_only_for_loopback_even_when_a_host_is_listed() -> None:
    hosts = PAGERDUTY_HOSTS | {"pd-proxy.internal"}

    assert clean_api_url("https://pd-proxy.internal:8443", allowed_hosts=hosts)
    with pytest.raises(InvalidIntegration) as refused:
        clean_api_url("http://pd-proxy.internal", allowed_hosts=hosts)
    assert refused.value.code == "api_url_not_allowed"
    assert "https" in str(refused.value)


def test_a_refusal_names_the_allowed_hosts() -> None:
    refusal = api_url_refusal("https://evil.test", PAGERDUTY_HOSTS)

    assert refusal is not None
    assert "evil.test" in refusal
    assert "api.eu.pagerduty.com, api.pagerduty.com" in refusal
