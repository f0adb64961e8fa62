"""Who is asking, by address: the citizen's own address behind a trusted TLS proxy.

In production a TLS proxy sits in front of the engine (browsers give the 110 web page the
camera and microphone only over HTTPS), so every request's peer is the proxy: rate limits keyed
on the peer would put every citizen in one bucket. A proxy listed in `http.trusted_proxies`
appends the address it got the request from to `X-Forwarded-For`; reading that header from
the right, the first address that is not a trusted proxy is the client. Anything further left
was written by the client itself and is not believed. A peer that is not a trusted proxy is the
client, whatever headers it sends.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HEADER = "X-Forwarded-For"


def check_proxies(
    proxies: Sequence[str], fail: Callable[[tuple[str | int, ...], str], None]
) -> None:
    """Settings check of `http.trusted_proxies`; `fail(keypath, problem)` names the key."""
    for index, value in enumerate(proxies):
        try:
            ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as exc:
            fail(("http", "trusted_proxies", index),
                 f"{value!r} is not a network ('10.0.5.0/24' or an address): {exc}")  # fmt: skip


@functools.lru_cache(maxsize=8)
def networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """The trusted proxies' networks (checked at load time: see `check_proxies`)."""
    return tuple(ipaddress.ip_network(value.strip(), strict=True) for value in proxies)


def _trusted(address: str, trusted: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in trusted)


def address_from(peer: str, forwarded: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: `peer` unless it is a trusted proxy; then the right-most address
    of the X-Forwarded-For values `forwarded` (every header, in order) that is not one. When
    every address is a trusted proxy (or the header is missing), the left-most one known."""
    if not trusted or not _trusted(peer, trusted):
        return peer
    chain = [item.strip() for value in forwarded for item in value.split(",") if item.strip()]
    for address in reversed(chain):
        if not _trusted(address, trusted):
            return address
    return chain[0] if chain else peer


def client_address(request: web.Request) -> str:
    """The address to count a request under (rate limits, the audit trail); see the module."""
    from engine.http import ENGINE_KEY

    settings = getattr(request.app.get(ENGINE_KEY), "settings", None)
    proxies = tuple(settings.http.trusted_proxies) if settings is not None else ()
    return address_from(request.remote or "unknown", request.headers.getall(HEADER, []),
                        networks(proxies))  # fmt: skip
