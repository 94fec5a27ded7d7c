"""The SSRF guard: which URLs and resolved addresses may receive webhooks."""

from __future__ import annotations

import pytest

from service.events.destinations import Destination, RefusedDestination, check_addresses, parse_url, refusal


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:192.168.1.1", "private"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_each_kind_of_non_public_address_is_named(address: str, reason: str | None) -> None:
    assert refusal(address) == reason


def test_one_private_answer_taints_the_host_unless_private_is_allowed() -> None:
    with pytest.raises(RefusedDestination, match="hooks.example resolves to a private address"):
        check_addresses("hooks.example", ["93.184.216.34", "10.0.0.7"], allow_private=False)
    assert check_addresses("hooks.example", ["10.0.0.7", "10.0.0.7"], allow_private=True) == ["10.0.0.7"]
    with pytest.raises(RefusedDestination, match="does not resolve"):
        check_addresses("nowhere.example", [], allow_private=True)


def test_a_url_is_split_into_what_the_sender_connects_to() -> None:
    assert parse_url("https://hooks.example/a/b?x=1", allow_private=False) == Destination("https", "hooks.example", 443, "/a/b?x=1")
    assert parse_url("http://127.0.0.1:8080", allow_private=True) == Destination("http", "127.0.0.1", 8080, "/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example/x", "must be https"),
        ("ftp://hooks.example/x", "must be https"),
        ("https://user:pw@hooks.example/x", "credentials"),
        ("https://hooks.example/x#frag", "fragment"),
        ("https:///x", "no host"),
        ("https://hooks.example:99999/x", "cannot be parsed"),
        ("https://hooks.example/" + "x" * 2000, "longer than"),
    ],
)
def test_anything_but_a_plain_https_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(RefusedDestination, match=message):
        parse_url(url, allow_private=False)
