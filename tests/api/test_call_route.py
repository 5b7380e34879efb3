"""The hook call is answered by CallRoute, ahead of FastAPI's router: exactly as its FastAPI route would.

CallRoute steps aside for a request FastAPI's own telemetry traces (``"fastapi.telemetry"`` in the
scope), so the same request can be sent both ways and the two answers compared message by message.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message

from cds.api import routes
from cds.observability import hook_instance_var
from tests.conftest import SERVICE_PATH, hook_request
from tests.fixtures_support import load_scenarios

Headers = list[tuple[bytes, bytes]]
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def send_through(
    app: Any,
    path: str,
    body: bytes,
    headers: Headers,
    *,
    via_router: bool = False,
    chunks: int = 1,
) -> tuple[list[Message], dict[str, Any]]:
    """Every message the app sends for one POST, and the scope as the app left it."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-request-id", b"req-1"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    if via_router:
        scope["fastapi.telemetry"] = None  # as when FastAPI's telemetry traces the request
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    last = len(parts) - 1
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": i < last} for i, part in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, scope


def comparable(sent: list[Message]) -> list[Message]:
    """The messages with each card's uuid masked (it is new on every answer)."""
    return [{**m, "body": _UUID.sub(b"<uuid>", m["body"])} if "body" in m else m for m in sent]


def both_ways(
    app: Any, path: str, body: bytes, headers: Callable[[], Headers] = list, chunks: int = 1
) -> list[Message]:
    """The answer to one call sent to CallRoute, once it is checked equal to the FastAPI route's.

    ``headers`` makes each request's headers (a token is only good once).
    """
    direct, direct_scope = send_through(app, path, body, headers(), chunks=chunks)
    routed, routed_scope = send_through(app, path, body, headers(), via_router=True, chunks=chunks)
    assert "router" not in direct_scope, "not answered by CallRoute"
    assert "router" in routed_scope, "not answered by the FastAPI route"
    for key in ("route", "endpoint", "path_params"):
        assert direct_scope.get(key) == routed_scope.get(key), key
    assert comparable(direct) == comparable(routed)
    return direct


@pytest.fixture
def app(client: TestClient) -> Any:
    return client.app


def _bodies() -> Iterator[Any]:
    answered = [s for s in load_scenarios() if s.status == 200]
    yield pytest.param(max(answered, key=lambda s: len(s.body)).body, 200, id="cards")
    yield pytest.param(orjson.dumps(hook_request()), 200, id="no-cards")
    yield pytest.param(b'{"hook": "patient-view", "prefetch": ', 400, id="malformed")
    yield pytest.param(b"", 400, id="empty")
    yield pytest.param(orjson.dumps(hook_request(hook="order-select")), 400, id="other-hook")
    yield pytest.param(orjson.dumps(hook_request(prefetch={})), 412, id="nothing-prefetched")


@pytest.mark.parametrize(("body", "status"), list(_bodies()))
@pytest.mark.parametrize("chunks", [1, 3])
def test_a_call_is_answered_as_by_its_route(app: Any, body: bytes, status: int, chunks: int) -> None:
    sent = both_ways(app, SERVICE_PATH, body, chunks=chunks)
    assert sent[0]["status"] == status
    assert (b"x-request-id", b"req-1") in sent[0]["headers"]
    assert (b"vary", b"Origin") in sent[0]["headers"]


def test_an_unknown_service_is_answered_as_by_its_route(app: Any) -> None:
    assert both_ways(app, "/cds-services/nope", orjson.dumps(hook_request()))[0]["status"] == 404


def test_a_cross_origin_call_is_answered_as_by_its_route(app: Any) -> None:
    origin = [(b"origin", b"https://sandbox.cds-hooks.org")]
    sent = both_ways(app, SERVICE_PATH, orjson.dumps(hook_request()), headers=origin.copy)
    assert (b"access-control-allow-origin", b"*") in sent[0]["headers"]


def test_an_unexpected_error_is_a_500_as_from_its_route(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(app.state.service, "prepare", boom)
    assert both_ways(app, SERVICE_PATH, orjson.dumps(hook_request()))[0]["status"] == 500


def test_the_hook_instance_is_set_for_the_log_lines_of_the_call(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []
    answer = routes._answer_from_prefetch

    def noting(service: Any, body: bytes) -> Any:
        result = answer(service, body)
        seen.append(hook_instance_var.get())
        return result

    monkeypatch.setattr(routes, "_answer_from_prefetch", noting)
    request = hook_request()
    both_ways(app, SERVICE_PATH, orjson.dumps(request))
    assert seen == [request["hookInstance"]] * 2


def test_other_paths_and_methods_are_left_to_the_router(app: Any) -> None:
    """405, the trailing-slash redirect and the feedback route are the router's."""
    for path in (SERVICE_PATH + "/", SERVICE_PATH + "/feedback", "/cds-services/", "/cds-services"):
        _, scope = send_through(app, path, b"{}", [])
        assert "router" in scope, path
