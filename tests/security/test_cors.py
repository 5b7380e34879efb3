"""CorsMiddleware is Starlette's CORSMiddleware, its shortcut for a request without Origin included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

from cds.api.middleware import CorsMiddleware

Headers = list[tuple[bytes, bytes]]
CONFIGS: list[dict[str, Any]] = [
    {"allow_origins": ["*"], "allow_methods": ["GET", "POST"], "expose_headers": ["X-Request-Id"]},
    {"allow_origins": ["https://a.example"], "allow_methods": ["POST"], "allow_headers": ["Authorization"]},
    {"allow_origins": ["*"], "allow_credentials": True},
]
ANSWER_HEADERS: list[Headers] = [
    [(b"content-type", b"application/json"), (b"content-length", b"2")],
    [(b"vary", b"Accept-Encoding"), (b"content-length", b"2")],
    [(b"vary", b"Accept"), (b"x-other", b"1"), (b"vary", b"Cookie")],
    [],
]
REQUEST_HEADERS: list[Headers] = [
    [],
    [(b"content-type", b"application/json")],
    [(b"origin", b"https://a.example")],
    [(b"origin", b"https://z.example")],
    [(b"origin", b"https://a.example"), (b"access-control-request-method", b"POST")],
    [(b"origin", b"https://a.example"), (b"access-control-request-method", b"DELETE")],
]


def answering(headers: Headers | None) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {"type": "http.response.start", "status": 200}
        if headers is not None:
            start["headers"] = list(headers)
        await send(start)
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def answer(middleware: Any, method: str, request_headers: Headers) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": method, "path": "/", "headers": list(request_headers)}
    asyncio.run(middleware(scope, receive, send))
    return sent


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("answer_headers", [*ANSWER_HEADERS, None])
@pytest.mark.parametrize("request_headers", REQUEST_HEADERS)
@pytest.mark.parametrize("method", ["POST", "OPTIONS"])
def test_answers_as_starlette_cors_does(
    config: dict[str, Any], answer_headers: Headers | None, request_headers: Headers, method: str
) -> None:
    ours = answer(CorsMiddleware(answering(answer_headers), **config), method, request_headers)
    starlettes = answer(CORSMiddleware(answering(answer_headers), **config), method, request_headers)
    assert ours == starlettes
