"""engine.clientaddr: the citizen's address behind trusted TLS proxies, and the setting's check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from engine.clientaddr import address_from, check_proxies, client_address, networks
from engine.errors import ConfigError
from engine.http import ENGINE_KEY
from engine.settings import load

PROXIES = networks(("10.0.5.0/24", "::1"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),  # not a proxy: headers ignored
        ("10.0.5.2", ["203.0.113.1"], "203.0.113.1"),
        ("10.0.5.2", ["203.0.113.66, 203.0.113.1"], "203.0.113.1"),  # left of it: the client's
        ("10.0.5.2", ["203.0.113.1, 10.0.5.9"], "203.0.113.1"),  # two proxies in a row
        ("10.0.5.2", ["203.0.113.1", "10.0.5.9"], "203.0.113.1"),  # several headers, in order
        ("::1", [" 2001:db8::7 "], "2001:db8::7"),
        ("::ffff:10.0.5.2", ["203.0.113.1"], "203.0.113.1"),  # IPv4-mapped peer
        ("10.0.5.2", [], "10.0.5.2"),  # a proxy that says nothing: itself
        ("10.0.5.2", ["10.0.5.8, 10.0.5.9"], "10.0.5.8"),  # only proxies: the left-most
        ("10.0.5.2", ["garbage"], "garbage"),  # not an address: not a proxy, so the client
    ],
)
def test_the_client_is_the_right_most_address_that_is_not_a_trusted_proxy(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert address_from(peer, forwarded, PROXIES) == client


def test_with_no_trusted_proxy_the_peer_is_the_client_whatever_it_says() -> None:
    assert address_from("10.0.5.2", ["203.0.113.1"], ()) == "10.0.5.2"


def test_client_address_reads_the_setting_from_the_engine() -> None:
    app = web.Application()
    engine = SimpleNamespace(settings=SimpleNamespace(http=SimpleNamespace(
        trusted_proxies=("127.0.0.1",))))  # fmt: skip
    app[ENGINE_KEY] = engine
    headers = {"X-Forwarded-For": "203.0.113.1"}
    request = make_mocked_request("GET", "/", headers=headers, app=app).clone(remote="127.0.0.1")
    assert client_address(request) == "203.0.113.1"
    engine.settings.http.trusted_proxies = ()
    assert client_address(request) == "127.0.0.1"


def test_a_trusted_proxy_that_is_not_a_network_is_refused_naming_the_key(tmp_path: object) -> None:
    problems: list[tuple[tuple[str | int, ...], str]] = []

    def fail(key: tuple[str | int, ...], problem: str) -> None:
        problems.append((key, problem))

    check_proxies(["10.0.5.0/24", "::1", "10.0.5.1/24", "proxy.example"], fail)
    assert [key for key, _ in problems] == [
        ("http", "trusted_proxies", 2),
        ("http", "trusted_proxies", 3),
    ]
    assert "not a network" in problems[0][1]


def test_the_setting_is_checked_at_load_time(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "bad.toml"  # type: ignore[operator]
    path.write_text('[http]\ntrusted_proxies = ["10.0.0.1/8"]\n')
    with pytest.raises(ConfigError) as error:
        load(path)
    assert "http.trusted_proxies.0" in str(error.value) and ":2" in str(error.value)
