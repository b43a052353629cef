"""Local HTTP stand-ins for remote model APIs: a quiet JSON request handler and a server on a free port.

The tests' stand-ins (OpenAI-compatible, Gemini) subclass ``JSONHandler`` and run under ``serving``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
