"""The address guard for outgoing requests to URLs someone else chose (shared/netguard.py).

Only loopback is ever connected to: the rebinding test starts a listener on 127.0.0.1 and a
resolver that answers a public address once, then 127.0.0.1; the "public" address is never
connected to (the guard's answer comes from the second resolution)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpx
import pytest

from shared import netguard
from shared.netguard import IPAddress, Policy

PUBLIC = ipaddress.ip_address("93.184.215.14")

REFUSED = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0x7f.1",
    "017700000001",
    "127.255.255.254",
    "localhost",
    "LocalHost.",
    "api.localhost",
    "[::1]",
    "::1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:10.0.0.1]",
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[2002:a00:1::]",  # 6to4 of 10.0.0.1
    "[64:ff9b:1::1]",  # local-use NAT64
    "[::127.0.0.1]",  # IPv4-compatible (deprecated)
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[ff02::1]",
    "[ff0e::1]",
    "[::]",
    "[2001:db8::1]",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "0",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "198.18.0.1",
]

ALLOWED = ["93.184.215.14", "8.8.8.8", "[2606:4700:4700::1111]", "partner.example", "1.1.1.1"]


@pytest.mark.parametrize("host", REFUSED)
def test_refused_spellings(host: str) -> None:
    assert Policy().refusal(host) is not None


@pytest.mark.parametrize("host", ALLOWED)
def test_public_addresses_and_names_pass_the_spelling_check(host: str) -> None:
    assert Policy().refusal(host) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("partner.example", None),
    ],
)
def test_literal_forms_are_read_as_the_resolver_reads_them(host: str, address: str | None) -> None:
    found = netguard.literal_address(host)
    assert found == (ipaddress.ip_address(address) if address else None)


def test_the_allow_list_lets_listed_networks_through_and_nothing_else() -> None:
    policy = Policy(netguard.parse_networks("127.0.0.0/8, ::1/128"))
    for host in ("127.0.0.1", "127.1", "2130706433", "[::1]", "[::ffff:127.0.0.1]", "localhost"):
        assert policy.refusal(host) is None, host
    for host in ("10.0.0.1", "169.254.169.254", "[fe80::1]", "192.168.1.1"):
        assert policy.refusal(host) is not None, host
    assert Policy().refusal("127.0.0.1") is not None  # the default allows nothing


def test_bad_networks_are_an_error() -> None:
    with pytest.raises(ValueError):
        netguard.parse_networks("127.0.0.0/8,not-a-network")
    assert netguard.parse_networks("") == ()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://partner.example/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("http://user:pw@partner.example/", "user info"),
        ("http://@partner.example/", "user info"),
        ("http://127.0.0.1:8080/", "public internet address"),
        ("http://[::1]/", "public internet address"),
        ("http://localhost/", "this machine"),
        ("http://partner.example:99999/", "not a valid URL"),
    ],
)
async def test_screen_url_says_why(url: str, reason: str) -> None:
    why = await netguard.screen_url(url, Policy())
    assert why is not None and reason in why


async def test_screen_url_resolves_names_when_given_a_resolver() -> None:
    async def internal(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("10.1.2.3"), ipaddress.ip_address("::1")]

    async def public(host: str, port: int) -> list[IPAddress]:
        return [PUBLIC]

    async def nowhere(host: str, port: int) -> list[IPAddress]:
        raise OSError("name not known")

    url = "https://feeds-db.internal/"
    assert await netguard.screen_url(url, Policy(), internal) is not None
    assert await netguard.screen_url(url, Policy(), nowhere) is not None
    assert await netguard.screen_url(url, Policy(), public) is None


# ---------------------------------------------------------------------- at connect time


class Listener:
    def __init__(self) -> None:
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    found = Listener()
    server = await asyncio.start_server(found.serve, "127.0.0.1", 0)
    yield found, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def rebinding() -> tuple[list[str], netguard.Resolver]:
    """A resolver that answers a public address the first time, loopback after that."""
    asked: list[str] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        return [PUBLIC] if len(asked) == 1 else [ipaddress.ip_address("127.0.0.1")]

    return asked, resolver


TIMEOUT = httpx.Timeout(5.0)


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(
    listener: tuple[Listener, int],
) -> None:
    server, port = listener
    asked, resolver = rebinding()
    url = f"http://partner.example:{port}/callback"
    assert await netguard.screen_url(url, Policy(), resolver) is None  # looked public
    async with netguard.guarded_client(Policy(), TIMEOUT, resolver=resolver) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(url)
    assert netguard.blocked(caught.value)
    assert asked == ["partner.example", "partner.example"]  # resolved again at connect
    assert server.connections == 0


async def test_every_connection_is_vetted_literals_included(
    listener: tuple[Listener, int],
) -> None:
    server, port = listener
    async with netguard.guarded_client(Policy(), TIMEOUT) as client:
        for host in ("127.0.0.1", "2130706433", "127.1", "[::ffff:127.0.0.1]", "localhost"):
            with pytest.raises(httpx.ConnectError) as caught:
                await client.get(f"http://{host}:{port}/")
            assert netguard.blocked(caught.value), host
    assert server.connections == 0


async def test_the_allow_list_reaches_listed_networks(listener: tuple[Listener, int]) -> None:
    server, port = listener
    asked, resolver = rebinding()
    asked.append("(skip the public answer)")
    allow = Policy(netguard.parse_networks("127.0.0.0/8"))
    async with netguard.guarded_client(allow, TIMEOUT, resolver=resolver) as client:
        assert (await client.get(f"http://partner.example:{port}/")).text == "ok"
        assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
    assert server.connections == 2


async def test_redirects_and_environment_proxies_are_not_followed(
    listener: tuple[Listener, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would make the connection for us, past the guard: the environment's is ignored
    (here one on loopback that would otherwise receive the request)."""
    server, port = listener
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port}")
    _, resolver = rebinding()
    async with netguard.guarded_client(Policy(), TIMEOUT, resolver=resolver) as client:
        assert client.follow_redirects is False
        with pytest.raises(httpx.ConnectError):
            # resolves "public" once (never connected: a refused address is the next answer)
            await client.get("http://203.0.113.9/")
    assert server.connections == 0


def test_is_public_judges_embedded_ipv4() -> None:
    assert netguard.is_public(PUBLIC)
    assert not netguard.is_public(ipaddress.ip_address("::ffff:169.254.169.254"))  # mapped
    assert netguard.is_public(ipaddress.ip_address("64:ff9b::5db8:d70e"))  # NAT64 of public
    assert not netguard.is_public(ipaddress.ip_address("64:ff9b::c0a8:101"))  # of 192.168.1.1


def test_the_feeds_setting_is_safe_by_default_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from services.feeds.settings import FeedsSettings

    monkeypatch.delenv("FEEDS_WEBSUB_ALLOW_NETWORKS", raising=False)
    assert FeedsSettings().websub_allow_networks == ""
    assert FeedsSettings(websub_allow_networks="127.0.0.0/8").websub_allow_networks
    with pytest.raises(ValidationError):
        FeedsSettings(websub_allow_networks="127.0.0.0/8,localhost")
