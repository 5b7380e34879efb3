"""The HTTP floor: a bare ASGI app that does only what any CDS service must do.

It reads the whole request body, parses it with orjson (so the body's size costs what it costs the
service) and returns a fixed ~2 KB card list. No framework, no validation, no clinical logic: what the
service measures above this is the price of its own work. Run it under the same uvicorn settings as the
service::

    uvicorn bench.floor:app --host 127.0.0.1 --port 8090 --workers 1 --no-access-log
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CARDS_BODY = orjson.dumps(orjson.loads((Path(__file__).with_name("cards_fixture.json")).read_bytes()))
DISCOVERY_BODY = orjson.dumps(
    {
        "services": [
            {
                "hook": "patient-view",
                "id": "mbc-treatment-options",
                "title": "Benchmark floor",
                "description": "Parses the request and returns a fixed card list",
            }
        ]
    }
)
JSON_HEADERS = [(b"content-type", b"application/json")]


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] == "GET" and scope["path"] == "/cds-services":
        await _respond(send, 200, DISCOVERY_BODY)
        return
    if scope["method"] != "POST" or not scope["path"].startswith("/cds-services/"):
        await _respond(send, 404, b'{"error":"not found"}')
        return
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    try:
        request = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        await _respond(send, 400, b'{"error":"invalid JSON"}')
        return
    if not isinstance(request, dict) or request.get("hook") != "patient-view":
        await _respond(send, 400, b'{"error":"not a patient-view request"}')
        return
    await _respond(send, 200, CARDS_BODY)
