"""Hostile loopback servers for the attack tests: one that records every path it is asked for, one
that trickles its answer a byte at a time for as long as the client stays.

Both bind 127.0.0.1 on a free port and stop (closing every connection) when their context ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@contextlib.contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread; yields the origin ``http://host:port``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Recorder:
    """Answers every GET with ``body`` (an empty searchset unless set) and records path and token."""

    origin: str = ""
    body: dict[str, Any] = field(default_factory=lambda: {"resourceType": "Bundle", "type": "searchset"})
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@contextlib.contextmanager
def recording_server() -> Iterator[Recorder]:
    state = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.seen.append((self.path, self.headers.get("Authorization")))
            raw = orjson.dumps(state.body)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    with loopback_http(Handler) as origin:
        state.origin = origin
        yield state


@dataclass
class Trickler:
    """How a trickling server was used: connections accepted, open now, and how long each lasted."""

    origin: str = ""
    accepted: int = 0
    open: int = 0
    held_s: list[float] = field(default_factory=list)  # per closed connection: how long the client stayed
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def trickling_server(
    *, interval_s: float = 0.05, head: bytes = b"HTTP/1.1 200 OK\r\n", body: bytes = b""
) -> Iterator[Trickler]:
    """Reads a request head, sends ``head`` at once, then trickles ``body`` (if given, then padding
    header bytes forever: ``X-Pad: aaaa...`` never ends) one byte every ``interval_s``.

    With the default ``head`` the status line arrives and the headers never end: each read a client
    makes gets a byte well within any per-read timeout, so only a total deadline stops it.
    """
    state = Trickler()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    state.origin = f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopping = threading.Event()

    def serve(conn: socket.socket) -> None:
        started = time.monotonic()
        with state.lock:
            state.accepted += 1
            state.open += 1
        try:
            conn.settimeout(1.0)
            request = b""
            while b"\r\n\r\n" not in request and not stopping.is_set():
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            conn.sendall(head)
            stream = body + b"X-Pad: " if body else b"X-Pad: "
            i = 0
            while not stopping.is_set():
                piece = stream[i : i + 1] if i < len(stream) else b"a"
                i += 1
                conn.sendall(piece)
                time.sleep(interval_s)
        except OSError:
            return  # the client went away: what the test waits for
        finally:
            with state.lock:
                state.open -= 1
                state.held_s.append(time.monotonic() - started)
            conn.close()

    with _accepting(
        listener, stopping, lambda conn: threading.Thread(target=serve, args=(conn,), daemon=True).start()
    ):
        yield state


@contextlib.contextmanager
def _accepting(
    listener: socket.socket, stopping: threading.Event, on_connection: Callable[[socket.socket], None]
) -> Iterator[None]:
    """Accept connections on ``listener`` in a thread until the block ends, then close it."""

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            on_connection(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


def wait_until(condition: Any, timeout_s: float) -> bool:
    """Poll ``condition()`` until it is true or ``timeout_s`` passes."""
    ends = time.monotonic() + timeout_s
    while time.monotonic() < ends:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers (a frozen database): yields ``host:port``."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    try:
        with _accepting(listener, threading.Event(), held.append):
            yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        for conn in held:
            conn.close()


def closed_port() -> int:
    """A loopback port nothing listens on (a database that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
