"""Local HTTP stand-ins for remote model APIs: a quiet JSON request handler and a server on a free port,
and an endpoint that answers a byte at a time for ever (``dripping``).

The tests' stand-ins (OpenAI-compatible, Gemini) subclass ``JSONHandler`` and run under ``serving``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace


class JSONHandler(BaseHTTPRequestHandler):
    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass  # keep the test output clean


@contextmanager
def serving(handler: type[JSONHandler], **state) -> Iterator[ThreadingHTTPServer]:
    """A threaded server for ``handler`` on 127.0.0.1 (``server.url``), with ``state`` set as its attributes
    for the handler to read and the test to inspect; shut down and its port closed on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in state.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dripping(*, headers_first: bool = True, gap_s: float = 0.5) -> Iterator[SimpleNamespace]:
    """A raw-socket endpoint on 127.0.0.1 (``server.url``) that reads each request whole and then answers
    one byte every ``gap_s`` seconds, for ever: with ``headers_first`` a complete status line and headers
    announcing a 1 MB JSON body and then the body a byte at a time, else the status line itself a byte at
    a time. A client's read timeout restarts with each byte, so only a total deadline ends such a request.

    ``server.connections`` counts the requests taken, ``server.dripped`` the bytes sent, and
    ``server.closed`` holds the ``time.monotonic()`` at which each connection was found closed by the client."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = SimpleNamespace(url=f"http://127.0.0.1:{listener.getsockname()[1]}", connections=0, dripped=0,
                             closed=[], stop=threading.Event(), lock=threading.Lock())
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                headers, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                with server.lock:
                    server.connections += 1
                if headers_first:
                    conn.sendall(head)
                pending = b"" if headers_first else head
                while not server.stop.wait(gap_s):
                    byte, pending = (pending[:1], pending[1:]) if pending else (b" ", b"")
                    conn.sendall(byte)
                    with server.lock:
                        server.dripped += 1
            except OSError:  # the client shut its end: what a deadline does
                with server.lock:
                    server.closed.append(time.monotonic())

    def accept() -> None:
        listener.settimeout(0.2)
        while not server.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server
    finally:
        server.stop.set()
        listener.close()
