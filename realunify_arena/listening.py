"""Whether a server can listen on an address: asked before the app or ``serve-openai`` starts, so a port in use
or a host that is not this machine's is one line naming it, not a traceback from the server library (or, for a
host name that does not resolve, Gradio trying 100 ports, each failing, and never exiting)."""

from __future__ import annotations

import errno
import socket

PORTS = (0, 65535)  # TCP's port numbers (RFC 793: 16 bits); 0 asks the system for any free port


def listen_problem(host: str, port: int | None) -> str | None:
    """Why a TCP server could not listen on ``host`` (a name or address, IPv6 with or without brackets) at
    ``port`` (0 to 65535; None or 0: any free port), or None when it can. The address is bound once, as
    uvicorn binds it (``SO_REUSEADDR`` set, so a port left in TIME_WAIT by a stopped server counts as free),
    and released at once.

    The answer says what is wrong and names the address, e.g. ``"127.0.0.1:7860 is already in use (another
    app or server listens there)"`` or ``"host 'exmaple': not a name or address of this machine (Name or
    service not known)"``."""
    if port is not None and not PORTS[0] <= port <= PORTS[1]:
        return f"port {port}: expected a number from {PORTS[0]} to {PORTS[1]}"
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(bare, port or 0, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        return f"host {host!r}: not a name or address of this machine ({getattr(e, 'strerror', None) or e})"
    shown = f"[{bare}]:{port or 0}" if family == socket.AF_INET6 else f"{bare}:{port or 0}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return f"{shown} is already in use (another app or server listens there)"
            if e.errno == errno.EACCES:
                return f"{shown}: permission denied (ports below 1024 need privileges)"
            if e.errno == errno.EADDRNOTAVAIL:
                return f"host {host!r}: not an address of this machine ({e.strerror})"
            return f"{shown}: cannot listen there ({e.strerror or e})"
    return None
