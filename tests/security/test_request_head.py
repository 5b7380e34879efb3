"""A connection must deliver a complete request head (request line and headers) within
CDS_HEADER_TIMEOUT_S, and one of at most 64 KiB (issue 23 item 2; cds.api.server_protocol). A real
``cds-mbc serve`` on 127.0.0.1 with the deadline set to 1 s."""

from __future__ import annotations

import http.client
import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures_support import SERVICE_PATH, hook_request, serving

DEADLINE_S = 1.0
MARGIN_S = 3.0  # a shared, busy machine
SERVE = """
import sys
from cds.cli import main
sys.exit(main(["serve", "--host", "127.0.0.1", "--port", sys.argv[1]]))
"""


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data: Path = tmp_path_factory.mktemp("data")
    env = {"CDS_AUTH": "off", "CDS_DATA_DIR": str(data), "CDS_HEADER_TIMEOUT_S": str(DEADLINE_S)}
    with serving(SERVE, env, timeout_s=60) as base:
        yield int(base.rsplit(":", 1)[1])


def received(sock: socket.socket) -> bytes:
    """What the server sent, b"" once it closed the connection."""
    try:
        return sock.recv(1024)
    except ConnectionResetError:
        return b""


def seconds_until_closed(sock: socket.socket, trickle: bytes = b"") -> float:
    """Seconds from now until the server closes ``sock`` having answered nothing, sending ``trickle``
    one byte every 0.3 s meanwhile; fails if it is still open after the deadline and the margin."""
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE_S + MARGIN_S:
        if select.select([sock], [], [], 0.3)[0]:
            assert received(sock) == b"", "the server answered an incomplete head"
            return time.monotonic() - start
        if trickle:
            sock.sendall(trickle[:1])
            trickle = trickle[1:]
    raise AssertionError(f"still open {DEADLINE_S + MARGIN_S} s after connecting")


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert DEADLINE_S - 0.2 <= seconds_until_closed(sock) <= DEADLINE_S + MARGIN_S


def test_a_head_trickled_a_byte_at_a_time_is_closed_at_the_deadline(port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\n\r\n"  # 20 s to send
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert DEADLINE_S - 0.2 <= seconds_until_closed(sock, trickle=head) <= DEADLINE_S + MARGIN_S


def test_the_deadline_runs_for_each_head_and_for_the_head_only(port: int) -> None:
    """On one keep-alive connection: a 100 KiB body sent over 2.5 s (past the head deadline, within
    CDS_BODY_TIMEOUT_S) is answered, then requests 0.6 s apart for 2.4 s; the deadline runs from each
    answer, not from connecting. Then a head left unfinished after an answer is cut at the deadline."""
    body = orjson.dumps(hook_request()) + b" " * 100_000
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", SERVICE_PATH)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        for part in range(5):
            time.sleep(0.5)
            conn.send(body[part * len(body) // 5 : (part + 1) * len(body) // 5])
        answer = conn.getresponse()
        assert answer.status == 200
        answer.read()
        sock = conn.sock
        for _ in range(4):
            time.sleep(0.6)
            conn.request("GET", "/readyz")
            answer = conn.getresponse()
            assert answer.status == 200
            answer.read()
            assert conn.sock is sock, "the connection was closed between requests"
        assert sock is not None
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert seconds_until_closed(sock) <= DEADLINE_S + MARGIN_S
    finally:
        conn.close()


def head_of(size: int) -> bytes:
    start = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Padding: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def test_a_head_over_64_kib_is_refused_with_431(port: int) -> None:
    def answer(size: int) -> tuple[int, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            with suppress(BrokenPipeError, ConnectionResetError):  # refused before all was sent:
                sock.sendall(head_of(size))  # the answer is still there to read
            reply = b""
            while chunk := received(sock):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body

    assert [answer(64 * 1024)[0], answer(1024 * 1024)[0]] == [200, 431]
    status, body = answer(64 * 1024 + 1)
    assert status == 431
    assert orjson.loads(body)["issue"][0]["code"] == "too-long"  # an OperationOutcome, like every error


def test_300_idle_connections_are_closed_and_never_lock_out_the_probes(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        idle = [stack.enter_context(socket.create_connection(("127.0.0.1", port))) for _ in range(300)]
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200
        assert httpx.get(base + "/readyz", timeout=5).status_code == 200
        deadline = time.monotonic() + DEADLINE_S + MARGIN_S
        open_ = set(idle)
        while open_ and time.monotonic() < deadline:
            for sock in select.select(list(open_), [], [], 0.2)[0]:
                assert received(sock) == b""
                open_.discard(sock)
        assert not open_, f"{len(open_)} of 300 idle connections still open after the deadline"
