"""Which webhook URLs agegate may send to (CONTRACT.md §11), decided on resolved addresses.

A URL is refused when any address its host resolves to is loopback, private, link-local,
multicast, reserved or unspecified, unless private destinations are allowed (development).
The check runs when a subscription is made and again before every attempt, and the attempt
connects to the very address that passed, so a DNS answer that changes in between (DNS
rebinding) cannot steer a delivery inside the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class RefusedDestination(ValueError):
    """The URL may not receive webhooks; the message says why, without echoing secrets."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line


def parse_url(url: str, *, allow_private: bool) -> Destination:
    """Split a webhook URL; raises RefusedDestination for anything but a plain http(s) URL.

    Plain http is accepted only where private destinations are (development): a delivery
    names children and guardians, so it travels encrypted in production.
    """
    if len(url) > MAX_URL_LENGTH:
        raise RefusedDestination(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedDestination("the URL cannot be parsed") from None
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_private):
        raise RefusedDestination("the URL must be https")
    if not parts.hostname:
        raise RefusedDestination("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedDestination("the URL must not carry credentials")
    if parts.fragment:
        raise RefusedDestination("the URL must not have a fragment")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if parts.scheme == "https" else 80
    return Destination(parts.scheme, parts.hostname, port or default_port, target)


def refusal(address: str) -> str | None:
    """Why ``address`` may not receive webhooks in production, or None when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for flag, reason in (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_private, "private"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_unspecified, "unspecified"),
    ):
        if flag:
            return reason
    if not ip.is_global:
        return "not globally routable"
    return None


def check_addresses(host: str, addresses: Iterable[str], *, allow_private: bool) -> list[str]:
    """The addresses to connect to; raises RefusedDestination when there are none or, unless
    ``allow_private``, when any of them is not public (one bad answer taints the host)."""
    found = list(dict.fromkeys(addresses))
    if not found:
        raise RefusedDestination(f"{host} does not resolve")
    if not allow_private:
        for address in found:
            reason = refusal(address)
            if reason is not None:
                raise RefusedDestination(f"{host} resolves to a {reason} address")
    return found
