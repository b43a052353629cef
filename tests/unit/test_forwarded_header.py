"""RFC 7239's ``Forwarded`` header as the trusted proxies' header (``--proxy-header forwarded``).

Expected values are the RFC's own examples (sections 4, 6 and 7.1), read as the RFC explains them, and
hand-built chains in which only the right-most elements are a proxy's."""

import pytest

from realunify_arena.arena import UNDISCLOSED, client_address, forwarded_hops
from realunify_arena.settings import Settings, SettingsError


@pytest.mark.parametrize("line, hops", [
    # RFC 7239 section 4's examples (the header names' case is free, section 4: "parameter names are
    # case-insensitive")
    ('for="_gazonk"', ["_gazonk"]),
    ('For="[2001:db8:cafe::17]:4711"', ["[2001:db8:cafe::17]:4711"]),
    ("for=192.0.2.60;proto=http;by=203.0.113.43", ["192.0.2.60"]),
    ("for=192.0.2.43, for=198.51.100.17", ["192.0.2.43", "198.51.100.17"]),
    # section 7.1: two proxies; the first element is the client as the first proxy saw it
    ("for=192.0.2.43,for=198.51.100.17;by=203.0.113.60;proto=http;host=example.com",
     ["192.0.2.43", "198.51.100.17"]),
    ("for=unknown", ["unknown"]),  # section 6.2's undisclosed address
    ("proto=https;by=203.0.113.43", [UNDISCLOSED]),  # an element without for= (section 5.2)
    ('for="a\\"b"', ['a"b']),  # a quoted-pair is the character it escapes (RFC 7230 section 3.2.6)
    ("for=192.0.2.43, , for=198.51.100.17", ["192.0.2.43", "198.51.100.17"]),  # empty list elements are skipped
])
def test_each_element_is_one_hop_and_its_for_parameter_the_address(line, hops):
    assert forwarded_hops(line) == hops


@pytest.mark.parametrize("line", [
    'for="192.0.2.1, for=203.0.113.7',  # a client's open quote swallowing what the proxy appended to the line
    "for=192.0.2.1 extra, for=203.0.113.7",
    "for = 203.0.113.7",  # no space around "=" in the grammar
])
def test_a_line_breaking_the_grammar_is_one_undisclosed_hop(line):
    assert forwarded_hops(line) == [UNDISCLOSED]
    assert client_address({"forwarded": line}, "10.0.0.1", 1, "forwarded") == UNDISCLOSED  # never the client's text


def test_with_forwarded_the_right_most_element_is_the_visitor_and_x_forwarded_for_is_ignored():
    headers = {"Forwarded": 'for="192.0.2.1";proto=https, for="[2001:db8:cafe::17]:4711"',
               "X-Forwarded-For": "198.51.100.9"}  # written by the client: this proxy never writes it
    assert client_address(headers, "10.0.0.1", 1, "forwarded") == "2001:db8:cafe::/64"
    assert client_address(headers, "10.0.0.1", 2, "forwarded") == "192.0.2.1"
    assert client_address(headers, "10.0.0.1", 0, "forwarded") == "10.0.0.1"  # no proxy: the socket peer
    # the default header is X-Forwarded-For: a client's Forwarded is never read then
    assert client_address(headers, "10.0.0.1", 1) == "198.51.100.9"
    assert client_address({"forwarded": "for=192.0.2.1"}, "10.0.0.1", 1) == "10.0.0.1"


def test_each_forwarded_line_counts_in_order():
    headers = [("forwarded", "for=192.0.2.1"), ("forwarded", "for=192.0.2.2, for=192.0.2.3")]

    class Lines(dict):  # a multi-line header, as starlette's Headers.items() gives it
        def items(self):
            return headers
    assert client_address(Lines(), "10.0.0.1", 1, "forwarded") == "192.0.2.3"
    assert client_address(Lines(), "10.0.0.1", 3, "forwarded") == "192.0.2.1"
    assert client_address(Lines(), "10.0.0.1", 9, "forwarded") == "192.0.2.1"  # a shorter chain: its left-most


def test_the_header_is_a_setting_of_its_own():
    assert Settings.from_cli([], {}).proxy_header == "x-forwarded-for"
    assert Settings.from_cli(["--proxy-header", "Forwarded"], {}).proxy_header == "forwarded"
    assert Settings.from_cli([], {"REALUNIFY_PROXY_HEADER": "forwarded"}).proxy_header == "forwarded"
    with pytest.raises(SettingsError, match="REALUNIFY_PROXY_HEADER: expected one of x-forwarded-for, forwarded,"
                                            " got 'via'"):
        Settings.from_cli([], {"REALUNIFY_PROXY_HEADER": "via"})
    with pytest.raises(ValueError, match="header: expected one of"):
        client_address({}, "10.0.0.1", 1, "via")


def test_a_line_left_of_a_broken_one_is_never_the_visitor():
    # RFC 9110 section 5.3: several Forwarded lines are one list, as if joined with ", "; a client sends its own
    # first line and an open quote in a second, to which two trusted proxies each append their element: the
    # joined list breaks the grammar (RFC 7239 section 4), so no hop in it can be told from the client's writing
    headers = [("forwarded", "for=198.51.100.9"),
               ("forwarded", 'for="203.0.113.5, for=192.0.2.1, for=192.0.2.2')]

    class Lines(dict):  # a multi-line header, as starlette's Headers.items() gives it
        def items(self):
            return headers
    joined = ", ".join(value for _, value in headers)
    assert client_address({"forwarded": joined}, "10.0.0.1", 2, "forwarded") == UNDISCLOSED
    assert client_address(Lines(), "10.0.0.1", 2, "forwarded") == UNDISCLOSED  # not the client's 198.51.100.9
    assert client_address(Lines(), "10.0.0.1", 1, "forwarded") == UNDISCLOSED
    # a proxy that adds a line of its own after the client's broken one is still read
    headers.append(("forwarded", "for=192.0.2.7"))
    assert client_address(Lines(), "10.0.0.1", 1, "forwarded") == "192.0.2.7"


@pytest.mark.parametrize("node", ['"[2001:db8:cafe::17]:_hidden"', '"[2001:db8:cafe::99]:_hidden"',
                                  '"[2001:db8:cafe::17]:_p.2-x"', '"[2001:db8:cafe::17]:4711"'])
def test_an_obfuscated_port_is_dropped_like_a_number(node):
    # RFC 7239 section 6: node = nodename [ ":" node-port ], node-port = port / obfport, obfport = "_" 1*(ALPHA /
    # DIGIT / "." / "_" / "-"); an IPv6 visitor counts by its /64 (RFC 6177), whatever port the proxy wrote: with the
    # port kept, each address of the /64 (or each obfuscated port) was a voter of its own
    assert client_address({"forwarded": f"for={node}"}, "10.0.0.1", 1, "forwarded") == "2001:db8:cafe::/64"
