"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request), one layer each side of CORS.

- ``ObservabilityMiddleware``, outermost: the request id (X-Request-Id on every answer, CORS preflights
  included, and on every log line) and the latency histogram.
- ``CorsMiddleware``: Starlette's CORSMiddleware, quicker for a request without an Origin header.
- ``GuardMiddleware``, inside CORS so that its own answers carry CORS headers too: 413 beyond
  CDS_MAX_BODY_BYTES (by Content-Length or while streaming), 408 when the body is not complete within
  CDS_BODY_TIMEOUT_S (slow clients), any unexpected exception as a 500 OperationOutcome, and the
  security headers on every response.

Inside the guard, ``cds.api.routes.CallRoute`` answers the hook call before FastAPI's router. Per-request
state is kept in small slotted objects rather than closures: one allocation a request, no cells, and
no reference cycles should the module ever be compiled with mypyc.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import types
from collections.abc import Generator
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.errors import PayloadTooLarge, operation_outcome
from cds.observability import hook_instance_var, observe_request, request_id_var, route_template

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


class _BodyRefused(Exception):
    """Raised from ``receive`` when the body is too large or too slow; answered by GuardMiddleware."""

    def __init__(self, status: int, outcome: dict[str, object]) -> None:
        super().__init__(status)
        self.status = status
        self.outcome = outcome


DEFAULT_BODY_TIMEOUT_S = 20.0


class GuardMiddleware:
    """The request's limits, the last-resort 500 and the security headers: one wrapper each way.

    413 beyond ``max_bytes``; 408 when the whole body has not arrived ``body_timeout_s`` after the
    request started (a client trickling a body would otherwise hold a connection and a request forever).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s

    def _too_large(self) -> _BodyRefused:
        error = PayloadTooLarge(f"The request body is larger than the limit of {self.max_bytes} bytes.")
        return _BodyRefused(error.status_code, error.outcome())

    def _too_slow(self) -> _BodyRefused:
        outcome = operation_outcome(
            f"The request body did not arrive within {self.body_timeout_s:g} seconds.", code="timeout"
        )
        return _BodyRefused(408, outcome)

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        return True
                except ValueError:
                    continue
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            refused = self._too_large()
            await send_json(send, refused.status, refused.outcome, close=True)
            return
        guarded = _Guarded(self, receive, send)
        try:
            await self.app(scope, guarded.receive, guarded.send)
        except _BodyRefused as refused:
            if not guarded.started:
                await send_json(send, refused.status, refused.outcome, close=True)
        except ClientDisconnect:  # the caller went away mid-request: nobody to answer, nothing wrong here
            log.info("client disconnected during %s %s", scope.get("method"), scope.get("path"))
        except Exception:  # the one place every unexpected failure is turned into an answer
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not guarded.started:
                outcome = operation_outcome(
                    "Internal error; the service log has the details.", code="exception"
                )
                await send_json(send, 500, outcome)


class _Guarded:
    """One request's ``receive`` (limited) and ``send`` (security headers) for GuardMiddleware.

    A small object, not closures over the request's locals: one allocation a request, no cells.
    """

    __slots__ = ("_receive", "_send", "body_done", "deadline", "guard", "seen", "started")

    def __init__(self, guard: GuardMiddleware, receive: Receive, send: Send) -> None:
        self.guard = guard
        self._receive = receive
        self._send = send
        self.seen = 0
        self.body_done = False
        self.started = False
        self.deadline = asyncio.get_running_loop().time() + guard.body_timeout_s

    async def receive(self) -> Message:
        if self.body_done:  # after the body: waiting for a disconnect is not limited
            return await self._receive()
        # The deadline only matters if receive() has to wait. Usually the body (or the next part of
        # it) has already arrived and receive() returns without suspending: stepped once by hand, it
        # answers at once and no timer is set (asyncio.timeout_at costs ~3 us a call); otherwise it
        # is resumed, where it stopped, under the deadline.
        waiting = self._receive().__await__()
        try:
            try:
                awaited = waiting.send(None)
            except StopIteration as arrived:
                message: Message = arrived.value
            else:
                async with asyncio.timeout_at(self.deadline):
                    message = await _resume(waiting, awaited)
        except TimeoutError:
            raise self.guard._too_slow() from None
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.guard.max_bytes:
                raise self.guard._too_large()
            self.body_done = not message.get("more_body", False)
        else:
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
        await self._send(message)


@types.coroutine
def _resume(waiting: Generator[Any, Any, Message], awaited: Any) -> Generator[Any, Any, Message]:
    """Go on awaiting ``waiting``, a suspended ``__await__`` iterator, from the value it yielded.

    What ``await`` does for an awaitable it started itself: whatever the task sends or throws in
    (a cancellation by the timeout, say) goes to the iterator, and its result is the result.
    """
    while True:
        try:
            sent = yield awaited
        except GeneratorExit:
            waiting.close()
            raise
        except BaseException as exc:  # thrown in by the task: cancellation, mostly
            try:
                awaited = waiting.throw(exc)
            except StopIteration as done:
                result: Message = done.value
                return result
        else:
            try:
                awaited = waiting.send(sent)
            except StopIteration as done:
                result = done.value
                return result


_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case), as ``request.headers.get`` reads it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-Id when it is a short plain token, else a new one."""
    for name, value in scope.get("headers", ()):  # the first plain one of them, if several are sent
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 64 and set(text) <= _REQUEST_ID_OK:
                return text
    return secrets.token_hex(16)


class ObservabilityMiddleware:
    """Request id (echoed as X-Request-Id, put on every log line) and the latency histogram."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        hook_token = hook_instance_var.set(None)
        observed = _Observed(send, request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed.send)
        finally:
            observe_request(route_template(scope), observed.status, time.perf_counter() - started)
            hook_instance_var.reset(hook_token)
            request_id_var.reset(token)


class _Observed:
    """One request's ``send`` for ObservabilityMiddleware: notes the status, adds X-Request-Id."""

    __slots__ = ("_send", "request_id", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.request_id = (b"x-request-id", request_id.encode())
        self.status = 500  # unless a response starts

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.request_id]
        await self._send(message)


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware, with a shortcut for a request without an Origin header.

    Such a request (any non-browser caller, an EHR's server, the benchmark) can be neither a preflight
    nor a cross-origin call: CORSMiddleware only adds ``Vary: Origin`` to its answer, after parsing the
    request headers into a ``Headers`` and the answer's into a ``MutableHeaders``. Here the headers are
    scanned once and ``Vary: Origin`` appended; a request with an Origin goes through CORSMiddleware.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and header(scope, b"origin") is None:
            await self.app(scope, receive, _VaryOrigin(send).send)
            return
        await super().__call__(scope, receive, send)


class _VaryOrigin:
    """One request's ``send``: ``Vary: Origin`` on the answer, as CORSMiddleware adds it."""

    __slots__ = ("_send",)

    def __init__(self, send: Send) -> None:
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message["headers"] = list(message.get("headers", ()))
            for name, _ in headers:
                if name == b"vary":  # joined with the answer's own Vary, as CORSMiddleware does it
                    vary = MutableHeaders(scope=message)
                    vary["Vary"] = ", ".join([*vary.getlist("Vary"), "Origin"])
                    break
            else:
                headers.append(_VARY_ORIGIN)
        await self._send(message)


_VARY_ORIGIN = (b"vary", b"Origin")
