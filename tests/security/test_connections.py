"""Idle and slow connections cannot lock callers out (issue 23 item 2): a real uvicorn server on
127.0.0.1, run with the options ``cds-mbc serve`` uses (cds.app.uvicorn_options), held open by sockets
that send nothing or trickle a body, still answers /healthz, /readyz and hook calls."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson
import pytest

from tests.fixtures_support import SERVICE_PATH, hook_request, serving

SERVER = """
import sys, uvicorn
from cds.app import uvicorn_options
from cds.settings import get_settings
uvicorn.run("cds.app:create_app", factory=True, host="127.0.0.1", port=int(sys.argv[1]),
            **uvicorn_options(get_settings()))
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {"CDS_AUTH": "off", "CDS_DATA_DIR": str(tmp_path), "CDS_MAX_CONCURRENCY": "16"}
    with serving(SERVER, env, timeout_s=30) as base:
        yield base


def open_sockets(stack: ExitStack, base: str, n: int, first_bytes: bytes = b"") -> None:
    port = int(base.rsplit(":", 1)[1])
    for _ in range(n):
        sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        if first_bytes:
            sock.sendall(first_bytes)


def answers(base: str) -> list[int]:
    with httpx.Client(base_url=base, timeout=5) as client:
        return [
            client.get("/healthz").status_code,
            client.get("/readyz").status_code,
            client.post(SERVICE_PATH, json=hook_request()).status_code,
        ]


def test_300_idle_connections_do_not_lock_anyone_out(server: str) -> None:
    with ExitStack() as stack:
        open_sockets(stack, server, 300)
        assert answers(server) == [200, 200, 200]


def test_slow_bodies_do_not_take_the_processing_slots(server: str) -> None:
    """More trickling bodies than CDS_MAX_CONCURRENCY (16): the slots count calls in processing."""
    head = (
        f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    ).encode()
    with ExitStack() as stack:
        open_sockets(stack, server, 40, head)
        assert answers(server) == [200, 200, 200]
        body = orjson.dumps(hook_request())
        assert (
            httpx.post(
                server + SERVICE_PATH, content=body, headers={"Content-Type": "application/json"}
            ).status_code
            == 200
        )
