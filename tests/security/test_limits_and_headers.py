"""Hostile input limits (size, slowness) and the security headers every response carries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from cds.api.middleware import SECURITY_HEADERS, GuardMiddleware
from tests.fixtures_support import SERVICE_PATH, hook_request

EXPECTED_HEADERS = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}

JSON = {"Content-Type": "application/json"}


def assert_secure(response: Any) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in response.headers["cache-control"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# --- body size and nesting ------------------------------------------------------------------------


def test_a_streamed_body_over_the_limit_is_413_without_content_length(
    client_factory: Callable[..., TestClient],
) -> None:
    client = client_factory(max_body_bytes=4096)

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    response = client.post(SERVICE_PATH, content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    assert_secure(response)


def test_a_declared_length_over_the_limit_is_413_before_reading(
    client_factory: Callable[..., TestClient],
) -> None:
    client = client_factory(max_body_bytes=4096)
    response = client.post(SERVICE_PATH, content=b"{" + b" " * 5000 + b"}", headers=JSON)
    assert response.status_code == 413
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize("depth", [65, 500, 5000, 100_000])
def test_deep_nesting_is_400_not_a_crash(client: TestClient, depth: int) -> None:
    body = orjson.dumps(hook_request())
    raw = body[:-1] + b',"extension":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    response = client.post(SERVICE_PATH, content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


# --- slow bodies ---------------------------------------------------------------------------------


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"length": len(body)})(scope, receive, send)


def run(app: Any, messages: list[tuple[float, Message]], method: str = "POST") -> list[Message]:
    """Drive an ASGI app with scripted request messages, each after a delay."""
    sent: list[Message] = []

    async def main() -> None:
        queue = list(messages)

        async def receive() -> Message:
            if not queue:
                await asyncio.sleep(3600)
            delay, message = queue.pop(0)
            await asyncio.sleep(delay)
            return message

        async def send(message: Message) -> None:
            sent.append(message)

        scope: Scope = {"type": "http", "method": method, "path": "/", "headers": [], "query_string": b""}
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(main())
    return sent


def chunk(data: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def test_a_trickled_body_gets_408_at_the_deadline() -> None:
    app = GuardMiddleware(echo_length, max_bytes=10_000, body_timeout_s=0.3)
    started = time.monotonic()
    sent = run(app, [(0, chunk(b"{", True)), (0.1, chunk(b" ", True)), (0.1, chunk(b" ", True))])
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 2
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    body = orjson.loads(sent[1]["body"])
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "timeout"


def test_a_body_that_arrives_in_time_is_served() -> None:
    app = GuardMiddleware(echo_length, max_bytes=10_000, body_timeout_s=1.0)
    sent = run(app, [(0, chunk(b"ab", True)), (0.05, chunk(b"cd", True)), (0.05, chunk(b"e", False))])
    assert sent[0]["status"] == 200
    assert orjson.loads(sent[1]["body"]) == {"length": 5}


def test_waiting_for_a_disconnect_after_the_body_is_not_limited() -> None:
    async def waits_for_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()
        message = await receive()  # e.g. a streaming response watching for the client leaving
        await JSONResponse({"after": message["type"]})(scope, receive, send)

    app = GuardMiddleware(waits_for_disconnect, max_bytes=10_000, body_timeout_s=0.2)
    sent = run(app, [(0, chunk(b"x", False)), (0.4, {"type": "http.disconnect"})])
    assert sent[0]["status"] == 200


def test_streaming_over_the_limit_is_413() -> None:
    app = GuardMiddleware(echo_length, max_bytes=10, body_timeout_s=5)
    sent = run(app, [(0, chunk(b"x" * 8, True)), (0, chunk(b"x" * 8, False))])
    assert sent[0]["status"] == 413


def test_a_request_cancelled_while_its_body_is_awaited_is_cancelled_not_408() -> None:
    app = GuardMiddleware(echo_length, max_bytes=10_000, body_timeout_s=5)
    sent: list[Message] = []

    async def main() -> None:
        async def receive() -> Message:
            await asyncio.sleep(3600)
            raise AssertionError("not reached")

        async def send(message: Message) -> None:
            sent.append(message)

        scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
        task = asyncio.create_task(app(scope, receive, send))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sent == []


# --- headers -------------------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(client_factory: Callable[..., TestClient]) -> None:
    client = client_factory(max_body_bytes=4096)
    responses = {
        "discovery": client.get("/cds-services"),
        "call": client.post(SERVICE_PATH, json=hook_request()),
        "400": client.post(SERVICE_PATH, content=b"{", headers=JSON),
        "404": client.get("/nowhere"),
        "405": client.get(SERVICE_PATH),
        "412": client.post(SERVICE_PATH, json=hook_request(prefetch={})),
        "413": client.post(SERVICE_PATH, content=b" " * 5000, headers=JSON),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "openapi": client.get("/openapi.json"),
    }
    expected = {"400": 400, "404": 404, "405": 405, "412": 412, "413": 413}
    for name, response in responses.items():
        assert response.status_code == expected.get(name, 200), (name, response.text)
        assert_secure(response)


def test_security_headers_on_a_500(
    client_factory: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory()
    service = client.app.state.service  # type: ignore[attr-defined]

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(service, "discovery", boom)
    response = client.get("/cds-services")
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert_secure(response)


def test_cors_and_security_headers_on_a_500_and_on_413s(
    client_factory: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_factory(max_body_bytes=4096)
    origin = {"Origin": "https://sandbox.cds-hooks.org"}

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(client.app.state.service, "discovery", boom)  # type: ignore[attr-defined]
    responses = [
        client.get("/cds-services", headers=origin),
        client.post(SERVICE_PATH, content=b" " * 5000, headers=origin),  # by Content-Length
        client.post(SERVICE_PATH, content=chunks(), headers={**origin, **JSON}),  # while streaming
    ]
    assert [response.status_code for response in responses] == [500, 413, 413]
    for response in responses:
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.json()["resourceType"] == "OperationOutcome"
        assert_secure(response)
