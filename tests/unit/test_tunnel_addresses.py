"""IPv6 addresses that carry one IPv4 host's address count as that host (``arena.client_address``).

A 6to4 host owns the whole ``2002:V4ADDR::/48`` (RFC 3056 section 2): 65,536 /64 networks from one IPv4
address, so counting IPv6 by /64 let one IPv4 client appear as 65,536 voters. A Teredo address
(``2001:0000::/32``, RFC 4380 section 4) is ``2001:0000:<server IPv4>:<flags>:<port ^ 0xffff>:<client IPv4
^ 0xffffffff>``: its /64 is the server's, and the client can vary server, flag and port bits. The expected
addresses below are worked out by hand from those layouts (RFC 5737 documentation addresses):

- 198.51.100.7 is c6.33.64.07 in hex, so its 6to4 prefix is ``2002:c633:6407::/48``;
- inverted, 198.51.100.7 is 39.cc.9b.f8 (``39cc:9bf8``); port 40000 (0x9c40) inverted is ``63bf``;
  server 192.0.2.45 is ``c000:022d``, server 203.0.113.9 is ``cb00:7109``.
"""

from __future__ import annotations

import pytest

from realunify_arena.arena import Arena, client_address, rate_key

SIX_TO_FOUR = [f"2002:c633:6407:{subnet:x}::{host:x}" for subnet, host in [(0, 1), (1, 1), (0xbeef, 2), (0xffff, 9)]]
TEREDO = [
    "2001:0000:c000:022d:8000:63bf:39cc:9bf8",  # server 192.0.2.45, port 40000
    "2001:0:c000:22d:0:ffff:39cc:9bf8",  # same server, other flags and port
    "2001:0:cb00:7109:8000:63bf:39cc:9bf8",  # another server: another /64, the same client
    "[2001:0:cb00:7109:4abc:1234:39cc:9bf8]:443",  # random flag bits (RFC 5991), with a port
]


@pytest.mark.parametrize("address", SIX_TO_FOUR + TEREDO)
def test_a_tunnel_address_is_its_ipv4_host(address):
    assert client_address({"x-forwarded-for": f"1.1.1.1, {address}"}, "10.0.0.9", 1) == "198.51.100.7"
    assert client_address({}, address.strip("[]").split("]")[0], 0) == "198.51.100.7"  # as the socket peer


def test_other_tunnel_hosts_and_native_ipv6_stay_apart():
    assert client_address({}, "2002:c633:6408::1", 0) == "198.51.100.8"  # the next IPv4 address's 6to4
    assert client_address({}, "2001:0:c000:22d:8000:63bf:39cc:9bf7", 0) == "198.51.100.8"  # its Teredo
    assert client_address({}, "2001:db8:5:7::1", 0) == "2001:db8:5:7::/64"  # native IPv6: its /64
    assert client_address({}, "2001:db8:0:1::1", 0) == "2001:db8:0:1::/64"  # 2001:db8 is not Teredo's 2001:0


def test_rotating_tunnel_networks_keeps_one_rate_key(store):
    """One IPv4 host behind a 6to4 or Teredo address, a new session and a new /64 each time: one voter."""
    proxied = Arena(store, trusted_proxies=1)
    keys = {rate_key(proxied.voter_id(None, f"s{n}", {"x-forwarded-for": f"10.9.{n}.1, {address}"}, peer="10.0.0.9"))
            for n, address in enumerate(SIX_TO_FOUR + TEREDO)}
    assert len(keys) == 1
    ipv4 = rate_key(proxied.voter_id(None, "s", {"x-forwarded-for": "198.51.100.7"}, peer="10.0.0.9"))
    assert keys == {ipv4}  # and the same voter as when it comes over IPv4
