"""Rerun of issue 23's findings 1, 2 and 9 against a real ``cds-mbc serve`` on loopback.

    .venv/bin/python -m bench.attacks

Starts the service (1 worker, CDS_AUTH=off, SQLite in a temp dir) and prints one Markdown table row per
attack: what the service answered and what it cost (answer size, time, the worker's RSS). The same
attacks, as pass/fail checks, are the tests in tests/security/ (test_bounded_answers.py,
test_connections.py, test_request_head.py, test_limits_and_headers.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.run import free_port

PATH = "/cds-services/mbc-treatment-options"
KEYS = (
    "observations",
    "medicationRequests",
    "medicationStatements",
    "medicationAdministrations",
    "procedures",
)
SERVE = "import sys; from cds.cli import main; sys.exit(main(sys.argv[1:]))"


def request(empty_entries: int) -> bytes:
    """A patient-view call whose conditions Bundle holds ``empty_entries`` entries without a resource."""
    others = "".join(f'"{key}":{{"resourceType":"Bundle","type":"searchset"}},' for key in KEYS)
    return (
        '{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",'
        '"context":{"userId":"Practitioner/1","patientId":"p1"},"prefetch":{'
        '"patient":{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1960-01-01"},'
        + others
        + '"conditions":{"resourceType":"Bundle","type":"searchset","entry":['
        + ",".join(["{}"] * empty_entries)
        + "]}}}"
    ).encode()


class Service:
    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, CDS_AUTH="off", CDS_DATA_DIR=tempfile.mkdtemp(), CDS_LOG_LEVEL="WARNING")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the service did not start")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def post(
        self, body: bytes, *, content_type: str = "application/json", path: str = PATH
    ) -> tuple[int, int]:
        """(status, answer bytes)"""
        call = urllib.request.Request(self.base + path, body, {"Content-Type": content_type}, method="POST")
        try:
            with urllib.request.urlopen(call, timeout=60) as answer:
                return int(answer.status), len(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, len(exc.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def empty_entries(service: Service, count: int) -> str:
    body = request(count)
    before, started = service.rss_mb(), time.monotonic()
    status, size = service.post(body)
    took = time.monotonic() - started
    return f"{status}, answer {size:,} bytes, {took:.2f} s, RSS {before:.0f} -> {service.rss_mb():.0f} MB"


def idle_connections(service: Service, count: int) -> tuple[str, str]:
    sockets = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(count)]
    started = time.monotonic()
    probes = f"/healthz {service.get('/healthz')}, /readyz {service.get('/readyz')}"
    meanwhile = f"{probes}, a hook call {service.post(request(1))[0]}, in {time.monotonic() - started:.2f} s"
    closed: list[float] = []

    def wait_closed(sock: socket.socket) -> None:
        sock.settimeout(60)
        opened = time.monotonic()
        with contextlib.suppress(OSError):
            sock.recv(1)
        closed.append(time.monotonic() - opened)
        sock.close()

    threads = [threading.Thread(target=wait_closed, args=(s,)) for s in sockets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return meanwhile, f"{len(closed)} closed by the server after {min(closed):.1f}-{max(closed):.1f} s"


def slow_bodies(service: Service, count: int) -> str:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", service.port))
        sock.sendall(head.encode())
        sockets.append(sock)
    started = time.monotonic()
    result = f"/healthz {service.get('/healthz')}, a hook call {service.post(request(1))[0]}"
    result += f", in {time.monotonic() - started:.2f} s"
    for sock in sockets:
        sock.close()
    return result


def main() -> int:
    service = Service()
    try:
        rows = {
            "1. 200,000 `{}` entries (0.6 MB)": empty_entries(service, 200_000),
            "1. 3,000,000 `{}` entries (9.0 MB)": empty_entries(service, 3_000_000),
        }
        meanwhile, closed = idle_connections(service, 255)
        rows["2. 255 idle connections: meanwhile"] = meanwhile
        rows["2. 255 idle connections: closed"] = closed + " (CDS_HEADER_TIMEOUT_S, default 10)"
        rows["2. 300 connections sending a body slowly"] = slow_bodies(service, 300)
        plain = request(1)
        rows["9. Content-Type: text/plain"] = str(service.post(plain, content_type="text/plain")[0])
        bad_utf8 = plain.replace(b'"gender":"female"', b'"gender":"female","x":"\xff"')
        rows["9. invalid UTF-8 in an element not read"] = str(service.post(bad_utf8)[0])
        rows["9. patientId '..'"] = str(
            service.post(plain.replace(b'"patientId":"p1"', b'"patientId":".."'))[0]
        )
        rows["9. trailing slash"] = str(service.post(plain, path=PATH + "/")[0])
    finally:
        service.stop()
    print("| attack | answer |\n|---|---|")
    for attack, answer in rows.items():
        print(f"| {attack} | {answer} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
