"""Local HTTP stand-ins for remote model APIs: a quiet JSON request handler and a server on a free port
(plain HTTP, or HTTPS with a certificate from ``private_ca``), and an endpoint that answers a byte at a time for
ever (``dripping``).

The tests' stand-ins (OpenAI-compatible, Gemini, the Hugging Face Hub's repo API: ``HubHandler``) subclass
``JSONHandler`` and run under ``serving``; ``png_b64`` is an image as their replies carry it. ``serve_in_thread``
runs any ``socketserver`` server (the workers' own too) for a test.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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


class HubHandler(JSONHandler):
    """The Hugging Face Hub's answers about dataset repos that ``huggingface_hub`` asks for (pointed here by
    ``HfApi(endpoint=server.url)`` or ``$HF_ENDPOINT``), as the Hub gives them for a token that can only read
    (``server.writable`` False) or can also write: every dataset exists and holds no file (``paths-info`` finds
    none); creating one is refused (403) or answered "already exists" (409); the write check
    (``auth-check/write``) is 403 or 200; an upload (``preupload``) is always refused (403). ``server.seen`` lists each ``(method, path)``."""

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path))
        if self.path.startswith("/api/datasets/") and self.path.endswith("/auth-check/write"):
            return self.reply(200 if self.server.writable else 403, {"error": "read-only token"})
        if self.path.startswith("/api/datasets/") and "/tree/" in self.path:
            return self.reply(200, [])
        if self.path.startswith("/api/datasets/"):
            repo_id = "/".join(self.path.split("/")[3:5])
            return self.reply(200, {"id": repo_id, "sha": "0" * 40, "siblings": [], "private": True})
        self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path))
        if self.path.startswith("/api/datasets/") and "/paths-info/" in self.path:
            return self.reply(200, [])  # none of the paths asked about: the repo holds no file
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/api/repos/create" and self.server.writable:
            name = f"{body.get('organization') or 'me'}/{body.get('name')}"
            return self.reply(409, {"error": "already exists", "url": f"{self.server.url}/datasets/{name}"})
        self.reply(403, {"error": "read-only token"})


def png_b64(image) -> str:
    """``image`` (a PIL image) as base64 PNG without a data-URL prefix: an OpenAI ``b64_json`` value."""
    from realunify_arena.adapters.wire import png_data_url

    return png_data_url(image).split(",", 1)[1]


def private_ca(folder: Path) -> SimpleNamespace:
    """A private CA and a certificate it signed for 127.0.0.1, as PEM files in ``folder``: ``ca`` (the CA's
    certificate, what a client must trust), ``cert`` and ``key`` (the server's). No public CA signed them,
    so a client that trusts only the usual CAs refuses the server."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def issue(subject, key, issuer, signer, *, ca: bool, extra=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realunify test CA")])
    ca = issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    server = issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), server_key, ca_name, ca_key,
                   ca=False, extra=[x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())])
    files = SimpleNamespace(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server-key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return files


SHUTDOWN_POLL_S = 0.05  # socketserver's default is 0.5 s


def serve_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread, checking for ``server.shutdown()`` every
    ``SHUTDOWN_POLL_S`` seconds. ``shutdown()`` returns only once the loop next checks, and with socketserver's
    default 0.5 s every test that stopped a server just after its last request waited half a second for it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S}, daemon=True)
    thread.start()
    return thread


@contextmanager
def serving(handler: type[JSONHandler], tls: SimpleNamespace | None = None, **state) -> Iterator[ThreadingHTTPServer]:
    """A threaded server for ``handler`` on 127.0.0.1 (``server.url``), with ``state`` set as its attributes
    for the handler to read and the test to inspect; shut down and its port closed on exit. With ``tls``
    (``private_ca``'s files) it speaks HTTPS with that certificate."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.cert, tls.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.url = server.url.replace("http://", "https://")
    for name, value in state.items():
        setattr(server, name, value)
    serve_in_thread(server)
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
