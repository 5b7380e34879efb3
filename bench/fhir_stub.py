"""A loopback FHIR server for the benchmark's fetch path: answers each query after a fixed delay.

It serves the generated patients (``python -m bench.generate`` output made with ``prefetch=False``,
whose private ``_bench_bundles`` key holds the data) for the queries a CDS service makes when prefetch
is absent::

    GET {base}/Patient/{id}
    GET {base}/{Condition|Observation|MedicationRequest|MedicationStatement|Procedure}?patient={id}[&code=...]

``code`` filters Observations by token (``system|code`` or ``code``, comma-separated). Every answer waits
``--delay-ms`` first, on asyncio, so concurrent queries overlap the way they would against a real server
on the network. ``GET /_stats`` (not delayed) returns the number of queries served and the bearer tokens
seen. Binds to 127.0.0.1 only.

    python -m bench.fhir_stub --data bench/work/fetch.ndjson --port 8099 --delay-ms 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from cds.fhir.prefetch import prefetch_keys

# the searches the service makes: a resource type -> its prefetch key (the Patient is read by id)
KEY_BY_TYPE = {key.resource_type: key.name for key in prefetch_keys(()) if key.name != "patient"}


class Store:
    def __init__(self, path: Path, base: str) -> None:
        self.base = base.rstrip("/")
        self.patients: dict[str, dict[str, Any]] = {}
        with path.open("rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                req = orjson.loads(line)
                bundles = req.get("_bench_bundles") or req.get("prefetch")
                if bundles:
                    self.patients[req["context"]["patientId"]] = bundles
        self.cache: dict[tuple[str, str], bytes] = {}
        self.queries = 0
        self.tokens: set[str] = set()

    def answer(self, target: str) -> tuple[int, bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        rel = path[len(urlsplit(self.base).path) :] if path.startswith(urlsplit(self.base).path) else path
        segments = [s for s in rel.split("/") if s]
        if len(segments) == 2 and segments[0] == "Patient":
            bundles = self.patients.get(segments[1])
            if bundles is None:
                return 404, _outcome("not-found", f"Patient/{segments[1]} is not known")
            return 200, orjson.dumps(bundles["patient"])
        if len(segments) == 1 and segments[0] in KEY_BY_TYPE:
            pid = (query.get("patient") or query.get("subject") or [""])[0].removeprefix("Patient/")
            bundles = self.patients.get(pid)
            if bundles is None:
                return 200, orjson.dumps(_searchset([], self.base, target))
            bundle = bundles[KEY_BY_TYPE[segments[0]]]
            codes = {t for v in query.get("code", []) for t in v.split(",") if t}
            if not codes:
                key = (segments[0], pid)
                if key not in self.cache:
                    self.cache[key] = orjson.dumps(bundle)
                return 200, self.cache[key]
            wanted = [e["resource"] for e in bundle.get("entry", []) if _matches(e["resource"], codes)]
            return 200, orjson.dumps(_searchset(wanted, self.base, target))
        return 404, _outcome("not-supported", f"{path} is not supported by the benchmark stub")


def _matches(resource: dict[str, Any], tokens: set[str]) -> bool:
    for coding in (resource.get("code") or {}).get("coding", []):
        code, system = coding.get("code", ""), coding.get("system", "")
        if code in tokens or f"{system}|{code}" in tokens:
            return True
    return False


def _searchset(resources: list[dict[str, Any]], base: str, target: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [{"relation": "self", "url": f"{urlsplit(base).scheme}://{urlsplit(base).netloc}{target}"}],
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }


def _outcome(code: str, text: str) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        }
    )


async def _handle(
    store: Store, delay: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
            }
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            if target == "/_stats":
                status, body = 200, orjson.dumps({"queries": store.queries, "tokens": sorted(store.tokens)})
            else:
                store.queries += 1
                auth = headers.get("authorization", "")
                if auth.lower().startswith("bearer "):
                    store.tokens.add(auth[7:])
                await asyncio.sleep(delay)
                status, body = (
                    store.answer(target) if method == "GET" else (405, _outcome("not-supported", method))
                )
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/fhir+json\r\n"
                f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def serve(data: Path, port: int, delay_ms: float, base_path: str, max_seconds: float) -> None:
    store = Store(data, f"http://127.0.0.1:{port}{base_path}")
    server = await asyncio.start_server(
        lambda r, w: _handle(store, delay_ms / 1000, r, w), "127.0.0.1", port, backlog=1024
    )
    print(f"fhir stub: {len(store.patients)} patients on http://127.0.0.1:{port}{base_path}", flush=True)
    async with server:
        # Bounded: the stub stops by itself after max_seconds even if nobody stops it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.serve_forever(), timeout=max_seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Loopback FHIR stub with a fixed per-query delay")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--base-path", default="/fhir")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args(argv)
    asyncio.run(serve(args.data, args.port, args.delay_ms, args.base_path, args.max_seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
