"""Pure ASGI middleware, outermost first (CORS, Starlette's own CORSMiddleware, sits between them):

- ``ObservabilityMiddleware``: the request id (X-Request-Id on every answer and every log line), the
  latency histogram, and one INFO log line per CDS call (cds.observability.log_call).
- ``GuardMiddleware``, inside CORS so that its own answers carry CORS headers too: 413 beyond
  CDS_MAX_BODY_BYTES (by Content-Length or while streaming), 408 when the body is not complete within
  CDS_BODY_TIMEOUT_S (slow clients), any unexpected exception as a 500 OperationOutcome, and the
  security headers on every response.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.errors import PayloadTooLarge, operation_outcome
from cds.observability import (
    call_log_var,
    hook_instance_var,
    log_call,
    observe_request,
    request_id_var,
    route_template,
)

log = logging.getLogger("cds.api")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"cross-origin"),
    # ignored by browsers over plain http; behind a TLS proxy it pins clients to https
    (b"strict-transport-security", b"max-age=31536000"),
)


async def send_json(send: Send, status: int, body: object, *, close: bool = False) -> None:
    """A JSON answer straight from middleware. ``close``: the unread rest of the body is not wanted."""
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *SECURITY_HEADERS,
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyRefused(Exception):
    """Raised from ``receive`` when the body is too large or too slow; answered by GuardMiddleware."""

    def __init__(self, status: int, outcome: dict[str, object]) -> None:
        super().__init__(status)
        self.status = status
        self.outcome = outcome


DEFAULT_BODY_TIMEOUT_S = 20.0


class GuardMiddleware:
    """The request's limits, the last-resort 500 and the security headers.

    413 beyond ``max_bytes``; 408 when the whole body has not arrived ``body_timeout_s`` after the
    request started (a client trickling a body would otherwise hold a connection and a request forever).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    def too_large(self) -> BodyRefused:
        error = PayloadTooLarge(f"The request body is larger than the limit of {self.max_bytes} bytes.")
        return BodyRefused(error.status_code, error.outcome())

    def too_slow(self) -> BodyRefused:
        outcome = operation_outcome(
            f"The request body did not arrive within {self.body_timeout_s:g} seconds.", code="timeout"
        )
        return BodyRefused(408, outcome)

    def declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.declared_too_large(scope):
            refused = self.too_large()
            await send_json(send, refused.status, refused.outcome, close=True)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        seen = 0
        body_done = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # after the body: waiting for a disconnect is not limited
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise self.too_slow() from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self.too_large()
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except BodyRefused as refused:
            if not started:
                await send_json(send, refused.status, refused.outcome, close=True)
        except ClientDisconnect:  # the caller went away mid-request: nobody to answer, nothing wrong here
            log.info("client disconnected during %s %s", scope.get("method"), scope.get("path"))
        except Exception:  # the one place every unexpected failure is turned into an answer
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                outcome = operation_outcome(
                    "Internal error; the service log has the details.", code="exception"
                )
                await send_json(send, 500, outcome)


_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-Id when it is a short plain token, else a new one."""
    for name, value in scope.get("headers", ()):  # the first plain one of them, if several are sent
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 64 and set(text) <= _REQUEST_ID_OK:
                return text
    return secrets.token_hex(16)


class ObservabilityMiddleware:
    """Request id (echoed as X-Request-Id, put on every log line), the latency histogram, and the log
    line of each CDS call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        hook_token = hook_instance_var.set(None)
        call_token = call_log_var.set({})
        request_id_header = (b"x-request-id", request_id.encode())
        status = 500  # unless a response starts

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), request_id_header]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - started
            endpoint = route_template(scope)
            observe_request(endpoint, status, seconds)
            log_call(scope.get("method", ""), endpoint, status, seconds, scope.get("path", ""))
            call_log_var.reset(call_token)
            hook_instance_var.reset(hook_token)
            request_id_var.reset(token)
