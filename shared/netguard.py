"""Outgoing requests to addresses someone else chose (WebSub callbacks, later fediverse inboxes)
must not reach our own network: loopback, private ranges, link-local (cloud metadata at
169.254.169.254), multicast, reserved, unspecified, and IPv6 forms that embed one of those.

The real guard is at connect time: :class:`GuardedBackend` resolves a name once, drops every
address the :class:`Policy` refuses, and connects to a vetted address itself, so a name that
resolved to a public address when it was checked and to ``127.0.0.1`` a moment later (DNS
rebinding) still cannot reach loopback. :func:`guarded_client` wires it into httpx, with
redirects and environment proxies off (a proxy would make the connection for us, unguarded).
:func:`screen_url` is the early check at the door: it gives a clear reason for the literal forms
(``127.1``, ``2130706433``, ``0x7f000001``, ``[::ffff:127.0.0.1]``, ``localhost``) and, with a
resolver, for names that resolve only to refused addresses.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> every address the name resolves to (tests replace it to stage a rebinding).
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are IPv4
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class BlockedAddress(httpcore.ConnectError):
    """A connection refused by the policy; httpx raises it as the ``__cause__`` of an
    ``httpx.ConnectError``, so callers can tell a refusal from a network failure."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether an address is ordinary public unicast, by the stdlib's IANA registries, with
    every IPv4 address embedded in an IPv6 one judged as well."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL or address in _COMPATIBLE:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return True


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (``127.0.0.0/8,::1/128``); raises ValueError on a bad one."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, in every spelling a resolver accepts: dotted
    decimal, a bare number (``2130706433``), hex (``0x7f000001``), octal (``0177.0.0.1``), short
    forms (``127.1``), IPv6 with or without brackets. None for a name."""
    bare = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        pass
    try:  # inet_aton is what getaddrinfo falls back on for numbers-and-dots forms
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Policy:
    """Which addresses may be connected to: public ones, and those in ``allow`` (an explicit
    list for development and the project's own tests; empty, the default, is the safe one)."""

    allow: tuple[IPNetwork, ...] = ()

    def permits(self, address: IPAddress) -> bool:
        if any(address in net for net in self.allow if net.version == address.version):
            return True
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        if inner is not None and any(inner in net for net in self.allow if net.version == 4):
            return True
        return is_public(address)

    def refusal(self, host: str) -> str | None:
        """Why a host is refused from its spelling alone (no DNS); None if it may be a name."""
        name = host.strip().strip("[]").rstrip(".").lower()
        address = literal_address(name)
        if address is not None:
            return None if self.permits(address) else "is not a public internet address"
        local = name in _LOCAL_NAMES or name.endswith(".localhost")
        if local and not self.permits(ipaddress.IPv4Address("127.0.0.1")):
            return "is a name for this machine"
        return None

    def vet(self, host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """The permitted addresses of a resolved name; raises BlockedAddress when none is."""
        found = list(addresses)
        allowed = [a for a in found if self.permits(a)]
        if not allowed:
            what = "does not resolve" if not found else "resolves to no public internet address"
            raise BlockedAddress(f"{host} {what}")
        return allowed


#: Threads of our own for the system resolver: names chosen by strangers may resolve slowly, and
#: must not queue the rest of the process's look-ups (asyncio's default executor) behind them.
_DNS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="netguard-dns")


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address of a name, from the system resolver (in a thread of our own)."""
    infos = await asyncio.get_running_loop().run_in_executor(
        _DNS,
        functools.partial(
            socket.getaddrinfo, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        ),
    )
    seen: dict[IPAddress, None] = {}
    for *_, sockaddr in infos:
        seen[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(seen)


async def screen_url(
    url: str, policy: Policy, resolver: Resolver | None = None, dns_seconds: float = 5.0
) -> str | None:
    """Why a URL may not be requested, or None: only http(s), no user info, no refused literal
    host; with a resolver, a name must resolve to at least one permitted address. An early,
    clear answer for whoever gave us the URL; :class:`GuardedBackend` still checks every
    connection."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "must be an absolute http or https URL"
    if "@" in parts.netloc:
        return "must not carry user info (user:password@)"
    if (why := policy.refusal(host)) is not None:
        return why
    if resolver is None or literal_address(host) is not None:
        return None
    try:
        async with asyncio.timeout(dns_seconds):
            found = await resolver(host, port or (443 if parts.scheme.lower() == "https" else 80))
        policy.vet(host, found)
    except (OSError, TimeoutError, BlockedAddress):
        return "must resolve to a public internet address"
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the policy applied to the address actually connected:
    one resolution per connection, every answer vetted, the connection made to a vetted
    address (TLS still verifies and sends SNI for the name; httpcore passes it to start_tls)."""

    def __init__(self, policy: Policy, resolver: Resolver = resolve) -> None:
        self.policy = policy
        self.resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                literal = literal_address(host)
                found = [literal] if literal is not None else await self.resolver(host, port)
        except TimeoutError as exc:  # not the host hanging: our resolver may just be busy
            raise httpcore.ConnectError(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        last: Exception | None = None
        for address in self.policy.vet(host, found):
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # the next vetted address, as a resolver's client would
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are never a destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose every connection goes through
    :class:`GuardedBackend` (httpx has no public hook for a network backend)."""

    def __init__(self, policy: Policy, limits: httpx.Limits, resolver: Resolver = resolve) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver),
        )


def guarded_client(
    policy: Policy,
    timeout: httpx.Timeout,
    limits: httpx.Limits | None = None,
    resolver: Resolver = resolve,
) -> httpx.AsyncClient:
    """An httpx client that connects only where ``policy`` permits: no redirects (each hop would
    be a new destination), no proxies from the environment."""
    limits = limits or httpx.Limits(max_connections=256, max_keepalive_connections=32)
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, limits, resolver),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


def blocked(exc: BaseException) -> bool:
    """Whether an httpx error was the policy refusing the destination."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BlockedAddress):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
