"""Hostile servers on 127.0.0.1 for the attack tests (free ports, one thread per connection).

- ``drip_server``: ``drip_server(phase="headers"|"body", interval_s=1.0)`` -> URL of a server that sends
  its answer one byte per ``interval_s``: the status line and headers, or valid headers then the body.
- ``flood_server``: URL of a server that answers 200 with an endless chunked JSON-ish body, fast.
- ``wrong_shape_server``: URL of a server answering every path with valid JSON of the wrong shape
  (``{"data": "…"}`` where a list of models is expected).
- ``silent_tcp_url``: URL of a port that accepts TCP and reads, never writes (``https://`` to it
  stalls in the TLS handshake, like TLS to a plain-HTTP port that waits for a request line).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

__all__ = ["AttackServer"]

Handler = Callable[[socket.socket, threading.Event], None]


class AttackServer:
    """Accepts connections on 127.0.0.1:<free port>; each is handed to ``handler`` in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self.stopping)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def read_request(conn: socket.socket) -> bytes:
    """The request head (up to the blank line), or what came before the client closed."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _drip(conn: socket.socket, payload: bytes, interval_s: float, stopping: threading.Event) -> None:
    for i in range(len(payload)):
        if stopping.wait(interval_s):
            return
        conn.sendall(payload[i:i + 1])


@pytest.fixture
def drip_server() -> Iterator[Callable[..., str]]:
    servers: list[AttackServer] = []
    body = json.dumps({"data": [{"id": "m"}] * 50}).encode()

    def make(phase: str = "headers", interval_s: float = 1.0) -> str:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()

        def handler(conn: socket.socket, stopping: threading.Event) -> None:
            read_request(conn)
            if phase == "headers":
                _drip(conn, head + body, interval_s, stopping)
            else:
                conn.sendall(head)
                _drip(conn, body, interval_s, stopping)

        server = AttackServer(handler)
        servers.append(server)
        return server.url

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def flood_server() -> Iterator[str]:
    def handler(conn: socket.socket, stopping: threading.Event) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" + b"0," * 32767 + b"0]"
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not stopping.is_set():
            conn.sendall(framed)

    server = AttackServer(handler)
    yield server.url
    server.stop()


@pytest.fixture
def wrong_shape_server() -> Iterator[str]:
    def handler(conn: socket.socket, stopping: threading.Event) -> None:
        while read_request(conn):
            body = json.dumps({"data": "models are elsewhere", "status": ["ok"], "version": {"x": 1}}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    server = AttackServer(handler)
    yield server.url
    server.stop()


@pytest.fixture
def silent_tcp_url() -> Iterator[str]:
    def handler(conn: socket.socket, stopping: threading.Event) -> None:
        conn.settimeout(0.2)
        while not stopping.is_set():
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                continue

    server = AttackServer(handler)
    yield server.url
    server.stop()
