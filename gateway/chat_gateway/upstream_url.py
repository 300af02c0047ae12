"""Which model server URLs the gateway sends its API key to: https, or http on this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: The end of the sentence that refuses an insecure URL (the start names where it came from).
INSECURE_UPSTREAM = (
    "is http:// on a host that is not this machine: the API key and every chat would cross "
    "the network unencrypted. Use an https:// URL (a tunnel gives one), or set "
    "ALLOW_INSECURE_UPSTREAM=true on the gateway if the network between them is private."
)


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":  # not *.localhost: a resolver may send those to DNS
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_insecure(url: str) -> bool:
    """True for an http:// URL whose host is not loopback (https, or other schemes, are not
    this check's business: the HTTP client refuses what it cannot send)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:  # a malformed URL: the HTTP client names the problem
        return False
    return parts.scheme.lower() == "http" and not is_loopback(host)
