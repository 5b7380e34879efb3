"""Fallback closed-loop HTTP/1.1 load generator, used only when wrk is not installed.

N keep-alive connections, each sending the next request body (cycling through an NDJSON file) as soon as
the previous answer has been read, for a fixed time. Same summary shape as bench/wrk_cycle.lua. One
asyncio process: good for a few thousand requests/s on this machine, so wrk is preferred (the report says
which load tool ran). Bounded by ``duration`` and by ``max_requests``.

    python -m bench.loadgen http://127.0.0.1:8080/cds-services/x bodies.ndjson -c 16 -d 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


def load_bodies(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


async def _worker(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    start: int,
    deadline: float,
    budget: list[int],
    latencies: list[float],
    errors: dict[str, int],
) -> int:
    sent_bytes = 0
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            body = bodies[i % len(bodies)]
            i += 1
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            data = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            sent_bytes += len(raw) + len(data)
            if status >= 400:
                errors["status"] += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        errors["read"] += 1
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return sent_bytes


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def run(url: str, bodies: list[bytes], connections: int, duration: float, max_requests: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    budget = [max_requests]
    t0 = time.perf_counter()
    deadline = t0 + duration
    results = await asyncio.gather(
        *(
            _worker(host, port, parts.path, bodies, c * 7919, deadline, budget, latencies, errors)
            for c in range(connections)
        ),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - t0
    errors["connect"] += sum(1 for r in results if isinstance(r, BaseException))
    lat = sorted(latencies)
    us = [v * 1e6 for v in lat]
    mean = sum(us) / len(us) if us else 0.0
    return {
        "requests": len(lat),
        "duration_us": int(elapsed * 1e6),
        "bytes": sum(r for r in results if isinstance(r, int)),
        "errors": errors,
        "latency_us": {
            "min": us[0] if us else 0,
            "mean": mean,
            "max": us[-1] if us else 0,
            "stdev": (sum((v - mean) ** 2 for v in us) / len(us)) ** 0.5 if us else 0.0,
            "p50": _pct(us, 50),
            "p90": _pct(us, 90),
            "p99": _pct(us, 99),
            "p999": _pct(us, 99.9),
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="closed-loop HTTP load generator (wrk fallback)")
    ap.add_argument("url")
    ap.add_argument("bodies", type=Path)
    ap.add_argument("-c", "--connections", type=int, default=16)
    ap.add_argument("-d", "--duration", type=float, default=10.0)
    ap.add_argument("-n", "--max-requests", type=int, default=10_000_000)
    args = ap.parse_args(argv)
    out = asyncio.run(
        run(args.url, load_bodies(args.bodies), args.connections, args.duration, args.max_requests)
    )
    print("WRKJSON " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
