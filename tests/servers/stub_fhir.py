"""A small FHIR server on loopback for fault injection, started by the tests (``stub_fhir`` fixture).

It answers like a FHIR R4 server from resources loaded with :meth:`StubFhir.load` (reads by id, type
searches filtered by ``patient``/``subject``, ``code`` and ``_id`` tokens, paged with ``next`` links when
``page_size`` is set; a transaction Bundle of PUTs POSTed to the base is stored) and lets a test
replace any answer with :meth:`StubFhir.on`: a status, a body (garbage included), extra headers, a
delay, a slow trickle. Every request's path and headers (and a POST's body) are recorded in
:attr:`StubFhir.requests`. Binds 127.0.0.1 on a free port; HTTP/1.1 with keep-alive.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson

FHIR_JSON = "application/fhir+json"


@dataclass
class Reply:
    """One canned answer. ``body``: a dict (sent as JSON) or raw bytes (sent as is)."""

    status: int = 200
    body: Mapping[str, Any] | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    trickle_s: float = 0.0  # pause between 16-byte pieces of the body
    content_type: str = FHIR_JSON


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # relative to the FHIR base, with the query: "Condition?patient=p1"
    headers: dict[str, str]
    body: bytes = b""

    @property
    def resource_path(self) -> str:
        return self.path.split("?", 1)[0]

    @property
    def authorization(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "authorization"), None)


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def _subject_id(resource: Mapping[str, Any]) -> str | None:
    for name in ("subject", "patient"):
        ref = resource.get(name)
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"]).rsplit("/", 1)[-1]
    return None


def _has_code(resource: Mapping[str, Any], tokens: Sequence[str]) -> bool:
    codings = []
    for name in ("code", "medicationCodeableConcept"):
        concept = resource.get(name)
        if isinstance(concept, Mapping):
            codings.extend(c for c in concept.get("coding") or () if isinstance(c, Mapping))
    for token in tokens:
        system, _, code = token.rpartition("|")
        if any(c.get("code") == code and (not system or c.get("system") == system) for c in codings):
            return True
    return False


class StubFhir:
    def __init__(self, base_path: str = "/fhir") -> None:
        self.base_path = base_path.rstrip("/")
        self.resources: list[dict[str, Any]] = []
        self.page_size: int | None = None
        self.delay_s = 0.0  # added to every FHIR answer
        self.requests: list[Seen] = []
        self._overrides: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="stub-fhir", daemon=True
        )

    # --- configuration -------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.base_path

    def load(self, resources: Sequence[Mapping[str, Any]], *, page_size: int | None = None) -> None:
        self.resources = [dict(r) for r in resources]
        self.page_size = page_size

    def on(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` ("Patient/p1", "Condition", or with a query "Condition?page=2") with the
        replies in order; the last one repeats."""
        with self._lock:
            self._overrides[path] = list(replies)

    def paths(self) -> list[str]:
        return [seen.resource_path for seen in self.requests]

    def start(self) -> StubFhir:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- answering -----------------------------------------------------------------------------------

    def _reply_for(self, rel: str) -> Reply:
        path = rel.split("?", 1)[0]
        with self._lock:
            for key in (rel, path):
                queue = self._overrides.get(key)
                if queue:
                    return queue.pop(0) if len(queue) > 1 else queue[0]
        return self._from_data(rel)

    def _from_data(self, rel: str) -> Reply:
        parts = urlsplit(rel)
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) == 2:
            for r in self.resources:
                if r.get("resourceType") == segments[0] and r.get("id") == segments[1]:
                    return Reply(body=r)
            return Reply(404, _outcome("not-found", f"{segments[0]}/{segments[1]} is not known"))
        if len(segments) != 1:
            return Reply(404, _outcome("not-found", "unknown path"))
        query = parse_qs(parts.query)
        patient = (query.get("patient") or query.get("subject") or [None])[0]
        codes = [t for v in query.get("code", []) for t in v.split(",")]
        ids = [t for v in query.get("_id", []) for t in v.split(",")]
        matches = [
            r
            for r in self.resources
            if r.get("resourceType") == segments[0]
            and (patient is None or _subject_id(r) == patient.rsplit("/", 1)[-1])
            and (not codes or _has_code(r, codes))
            and (not ids or r.get("id") in ids)
        ]
        page = int((query.get("_page") or ["0"])[0])
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
        if self.page_size is not None:
            start = page * self.page_size
            if start + self.page_size < len(matches):
                flat = {k: v[0] for k, v in query.items() if k != "_page"}
                next_query = urlencode({**flat, "_page": str(page + 1)})
                bundle["link"] = [{"relation": "next", "url": f"{self.base_url}/{segments[0]}?{next_query}"}]
            matches = matches[start : start + self.page_size]
        bundle["entry"] = [{"resource": r, "search": {"mode": "match"}} for r in matches]
        return Reply(body=bundle)

    def _transaction(self, body: bytes) -> Reply:
        """Store each PUT of a transaction Bundle (replacing the same Type/id); 400 for anything else."""
        bundle = orjson.loads(body)
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            return Reply(400, _outcome("invalid", "not a transaction Bundle"))
        entries = bundle.get("entry", [])
        for entry in entries:
            resource = entry["resource"]
            if entry["request"] != {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}:
                return Reply(400, _outcome("invalid", "not a PUT of the resource's Type/id"))
        statuses = []
        with self._lock:  # all or nothing, as a transaction
            for resource in (entry["resource"] for entry in entries):
                key = (resource["resourceType"], resource["id"])
                old = [r for r in self.resources if (r.get("resourceType"), r.get("id")) == key]
                self.resources = [r for r in self.resources if r not in old] + [resource]
                statuses.append("200 OK" if old else "201 Created")
        answers = [{"response": {"status": status}} for status in statuses]
        return Reply(body={"resourceType": "Bundle", "type": "transaction-response", "entry": answers})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                if not self.path.startswith(stub.base_path + "/"):
                    self._send(Reply(404, _outcome("not-found", "not under the FHIR base")))
                    return
                rel = self.path[len(stub.base_path) + 1 :]
                with stub._lock:
                    stub.requests.append(Seen("GET", rel, dict(self.headers.items())))
                reply = stub._reply_for(rel)
                delay = stub.delay_s + reply.delay_s
                if delay:
                    time.sleep(delay)
                self._send(reply)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rel = self.path[len(stub.base_path) :].lstrip("/")
                with stub._lock:
                    stub.requests.append(Seen("POST", rel, dict(self.headers.items()), body))
                    queue = stub._overrides.get(rel)
                    override = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
                if override is not None:
                    self._send(override)
                elif rel == "":
                    self._send(stub._transaction(body))
                else:
                    self._send(Reply(404, _outcome("not-found", "POST only to the base (a transaction)")))

            def _send(self, reply: Reply) -> None:
                body = reply.body
                raw = body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
                with contextlib.suppress(OSError):
                    self.send_response(reply.status)
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if reply.trickle_s:
                        for i in range(0, len(raw), 16):
                            self.wfile.write(raw[i : i + 16])
                            self.wfile.flush()
                            time.sleep(reply.trickle_s)
                    else:
                        self.wfile.write(raw)

        return Handler


@contextlib.contextmanager
def running_stub(base_path: str = "/fhir") -> Iterator[StubFhir]:
    stub = StubFhir(base_path).start()
    try:
        yield stub
    finally:
        stub.stop()
