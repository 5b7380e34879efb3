"""The HTTP protocol ``cds-mbc serve`` runs: uvicorn's httptools protocol, plus a deadline and a size
limit on the request head (request line and headers). Issue 23 item 2.

uvicorn has neither: its keep-alive timeout is armed only after an answer and cancelled by the next
byte, and httptools (llhttp) reads a head of any size into memory. So a socket that sent nothing, or
trickled a head, stayed open as long as its client liked. Here a connection must deliver a complete
head within ``head_timeout_s`` (CDS_HEADER_TIMEOUT_S) of being opened or of its last answer, or it is
closed without a reply; a head over MAX_HEAD_BYTES is answered 431 and the connection closed. The body
has its own deadline (CDS_BODY_TIMEOUT_S, in the app).

Relies on uvicorn's public ``HttpToolsProtocol`` calling, as in uvicorn 0.55, ``on_headers_complete``
(httptools' callback) when a head is complete and ``on_response_complete`` when an answer is complete.
tests/security/test_request_head.py fails if either stops being called.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cds.errors import operation_outcome

MAX_HEAD_BYTES = 64 * 1024
_OUTCOME = json.dumps(
    operation_outcome("The request line and headers exceed 64 KiB.", code="too-long")
).encode()
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_OUTCOME), _OUTCOME)
)


class HeadDeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, head_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout_s = head_timeout_s
        self.head_transport: asyncio.Transport | None = None
        self.head_timer: asyncio.TimerHandle | None = None  # set while a head is awaited
        self.head_bytes = 0
        self.heads_unanswered = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_transport = transport
        self.await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_awaiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        room = MAX_HEAD_BYTES - self.head_bytes
        if self.head_timer is None or len(data) <= room:  # no head awaited, or all of data fits
            self.head_bytes += len(data)
            super().data_received(data)
            return
        super().data_received(data[:room])  # the parser is fed in two parts: the same result
        if self.head_timer is None:  # the head ended within room: the rest is body or the next head
            super().data_received(data[room:])
        elif self.head_transport is not None and not self.head_transport.is_closing():
            self.stop_awaiting()
            self.head_transport.write(HEAD_TOO_LARGE)
            self.head_transport.close()

    def on_headers_complete(self) -> None:
        self.stop_awaiting()
        self.heads_unanswered += 1
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.heads_unanswered -= 1
        if self.heads_unanswered == 0:  # no pipelined head waiting: the next one is awaited
            self.await_head()

    def await_head(self) -> None:
        self.stop_awaiting()
        if self.head_transport is not None and not self.head_transport.is_closing():
            self.head_bytes = 0
            loop = asyncio.get_running_loop()
            self.head_timer = loop.call_later(self.head_timeout_s, self.head_too_slow)

    def stop_awaiting(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_too_slow(self) -> None:
        self.head_timer = None
        if self.head_transport is not None and not self.head_transport.is_closing():
            self.head_transport.close()
