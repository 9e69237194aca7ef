"""The SSRF rules: which URLs and resolved addresses an endpoint may use."""

from __future__ import annotations

import ipaddress

import pytest

from fireline_notifications.domain.addresses import (
    AllowList,
    IPAddress,
    check_address,
    is_public,
    parse_url,
)
from fireline_notifications.domain.errors import RefusedUrl
from fireline_notifications.service_layer.urls import UrlPolicy

NOTHING = AllowList()


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # the cloud metadata service (link-local)
        "fd00:ec2::254",  # its IPv6 twin
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "100.64.0.1",  # carrier-grade NAT
        "fe80::1",
        "fc00::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",  # loopback dressed as IPv6
        "::ffff:10.0.0.1",
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "::ffff:8.8.8.8"])
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https:///hook", "https"),
        ("https://169.254.169.254/latest", "169.254.169.254"),
        ("https://[::1]:8443/hook", "::1"),
        ("https://example.com:99999/", "not valid"),
        ("https://example.com/" + "a" * 2048, "longer"),
    ],
)
def test_refused_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_url(url, NOTHING)


def test_the_allow_list_admits_its_hosts_and_networks_and_only_those_may_use_http() -> None:
    allow = AllowList.parse("127.0.0.1, hooks.internal, 10.20.0.0/16")

    assert parse_url("http://127.0.0.1:9000/hook", allow).port == 9000
    assert parse_url("http://hooks.internal/x", allow).host == "hooks.internal"
    assert parse_url("https://10.20.3.4/x", allow).literal == ipaddress.ip_address("10.20.3.4")
    check_address("hooks.internal", ipaddress.ip_address("10.9.9.9"), allow)  # named by host
    check_address("other.internal", ipaddress.ip_address("10.20.9.9"), allow)  # in a network
    with pytest.raises(ValueError, match="private"):
        check_address("other.internal", ipaddress.ip_address("10.21.0.1"), allow)
    with pytest.raises(ValueError, match="https"):
        parse_url("http://example.com/x", allow)


@pytest.mark.parametrize("entry", ["not a host!", "10.0.0.0/99", "a/b"])
def test_a_malformed_allow_list_entry_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="host name or CIDR"):
        AllowList.parse(f"127.0.0.1,{entry}")


class Resolver:
    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return list(self.answers)


async def test_a_name_resolving_to_any_internal_address_is_refused() -> None:
    policy = UrlPolicy(NOTHING, Resolver("93.184.216.34", "10.0.0.7"))

    with pytest.raises(RefusedUrl, match=r"10\.0\.0\.7"):
        await policy.check("https://mixed.example/hook")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(RefusedUrl, match="does not resolve"):
        await UrlPolicy(NOTHING, Resolver()).check("https://nowhere.example/hook")


async def test_a_public_name_gives_the_address_to_connect_to() -> None:
    policy = UrlPolicy(NOTHING, Resolver("93.184.216.34", "2606:2800:220:1::1"))

    assert await policy.check("https://example.com/hook") == ipaddress.ip_address("93.184.216.34")
