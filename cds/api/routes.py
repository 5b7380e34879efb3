"""The three CDS Hooks endpoints: discovery, the service call, feedback.

The service call, the one endpoint on every hook, is also answered by :class:`CallRoute`, an ASGI
layer just inside the middleware that reaches it before FastAPI's exception middleware and router.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette._utils import get_route_path  # as FastAPI's routes match paths
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.api.deps import AuthenticatedRoute, authenticate_scope, service_of
from cds.api.openapi import (
    CALL_RESPONSES,
    DISCOVERY_RESPONSES,
    FEEDBACK_RESPONSES,
    call_request_body,
    feedback_request_body,
)
from cds.hooks import FeedbackItem, FeedbackRequest
from cds.observability import count_cards, count_feedback, hook_instance_var
from cds.pathway.ids import key_of
from cds.pathway.knowledge import Knowledge
from cds.service import PatientViewService, PendingCall, collector_paused, parse_json, validated
from cds.store import FeedbackRecord, FeedbackStore

log = logging.getLogger("cds.api")
router = APIRouter(route_class=AuthenticatedRoute)

JSON = "application/json"


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


@router.get("/cds-services", summary="CDS Hooks discovery", responses=DISCOVERY_RESPONSES)
async def discovery(request: Request) -> Response:
    return json_response(service_of(request).discovery())


@router.post(
    "/cds-services/{service_id}",
    summary="Call the patient-view service",
    responses=CALL_RESPONSES,
    openapi_extra=call_request_body(),
)
async def call_service(service_id: str, request: Request) -> Response:
    # Answered by CallRoute unless FastAPI's own telemetry traces the request: keep the two alike.
    state = request.app.state
    service: PatientViewService = state.service
    service.check_service(service_id)
    return Response(await _answer(state, service, await request.body()), media_type=JSON)


async def _answer(state: State, service: PatientViewService, body: bytes) -> bytes:
    """The JSON answer to a checked call (the cards counted), for both ways of serving the call."""
    result = _answer_from_prefetch(service, body)
    if isinstance(result, PendingCall):  # data to fetch: blocking I/O, off the event loop
        await run_in_threadpool(service.fetch, result)
        result = service.finish(result)
    rule_ids = [card["source"]["topic"]["code"] for card in result["cards"]]
    count_cards(rule_ids)
    state.shown.add(rule_ids)
    return orjson.dumps(result)


def _answer_from_prefetch(service: PatientViewService, body: bytes) -> dict[str, Any] | PendingCall:
    """The answer when the prefetch holds all the data (the usual call), else the call to fetch for.

    One synchronous step with the cyclic collector paused, and the parsed chart freed before it
    resumes (see cds.service.collector_paused): ~35 ms less at 10,000 resources.
    """
    with collector_paused():
        pending = service.prepare(body)
        hook_instance_var.set(pending.request.hookInstance)
        if pending.needs_io:
            return pending
        answer = service.finish(pending)
        del pending  # the parsed chart goes now, while the collector is still paused
        return answer


def _record(service_id: str, item: FeedbackItem, knowledge: Knowledge) -> FeedbackRecord:
    override = item.overrideReason
    reason = override.reason if override else None
    return FeedbackRecord(
        service_id=service_id,
        rule_id=knowledge.rule_for_card(key_of(item.card)),
        card_uuid=item.card,
        outcome=item.outcome,
        accepted_suggestions=tuple(s.id for s in item.acceptedSuggestions or ()),
        override_code=reason.code if reason else None,
        override_system=reason.system if reason else None,
        override_display=reason.display if reason else None,
        user_comment=override.userComment if override else None,
        outcome_timestamp=item.outcomeTimestamp,
    )


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on cards",
    responses=FEEDBACK_RESPONSES,
    openapi_extra=feedback_request_body(),
)
async def feedback(service_id: str, request: Request) -> Response:
    service = service_of(request)
    service.check_service(service_id)
    data = parse_json(await request.body(), service.settings.max_json_depth)
    parsed = validated(FeedbackRequest, data)
    records = [_record(service_id, item, service.knowledge) for item in parsed.feedback]
    store: FeedbackStore = request.app.state.store
    stored = await asyncio.to_thread(store.add, records)
    for record in records:
        count_feedback(record.rule_id, record.outcome)
    return json_response({"received": len(records), "stored": stored})


# --- the service call without the router ----------------------------------------------------------

_CALL_ROUTE = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is call_service)
_JSON_TYPE = (b"content-type", JSON.encode("latin-1"))


class CallRoute:
    """``POST /cds-services/{service_id}`` answered as its route would, without FastAPI's routing.

    Installed just inside the middleware (``app.add_middleware(CallRoute)`` first, so innermost). On
    the hook call, FastAPI's exception middleware, router, included-router matching (twice) and
    per-request exit stacks cost ~30 us, several times the HTTP work of the call itself; here the same
    steps are taken directly: the route's own path pattern, ``scope["route"]``/``path_params`` as the
    router sets them (the latency metric labels the call by its route), authentication before
    anything else, the body read as ``Request.body()`` reads it, and the answer sent as ``Response``
    sends it. An exception is answered by the app's exception handlers through Starlette's
    ``ExceptionMiddleware``, exactly as the route's own errors are.

    Everything else goes on to FastAPI unchanged: other paths and methods (405s, redirects, 404s stay
    the router's), and every request FastAPI's own OpenTelemetry instrumentation traces (its spans
    name the route and time the endpoint from inside the router).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = _CALL_ROUTE
        self.path_regex = _CALL_ROUTE.path_regex
        self.convert = _CALL_ROUTE.param_convertors["service_id"].convert

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or "fastapi.telemetry" in scope:
            await self.app(scope, receive, send)
            return
        match = self.path_regex.match(get_route_path(scope))
        if match is None:
            await self.app(scope, receive, send)
            return
        service_id: str = self.convert(match["service_id"])
        scope["endpoint"] = call_service
        scope["path_params"] = {**scope.get("path_params", {}), "service_id": service_id}
        scope["route"] = self.route
        started = False
        try:
            authenticate_scope(scope)
            state: State = scope["app"].state
            service: PatientViewService = state.service
            service.check_service(service_id)
            body = await _answer(state, service, await read_body(receive))
            headers = [(b"content-length", str(len(body)).encode("latin-1")), _JSON_TYPE]
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        except Exception as exc:
            await _handle(scope, receive, send, exc, started)


async def read_body(receive: Receive) -> bytes:
    """The whole request body, read as ``Request.body()`` reads it (ClientDisconnect on a disconnect)."""
    message = await receive()
    if message["type"] == "http.request" and not message.get("more_body", False):
        body = message.get("body", b"")  # the usual request: the whole body in one message
        if type(body) is bytes:
            return body
    chunks: list[bytes] = []
    while True:
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
        message = await receive()


async def _handle(scope: Scope, receive: Receive, send: Send, exc: Exception, started: bool) -> None:
    """Answer ``exc`` with the app's exception handlers, through Starlette's ExceptionMiddleware.

    As for a route: an exception without a handler goes on up (GuardMiddleware answers 500); one
    with a handler after the response started is a RuntimeError (the middleware sees the start).
    """
    app = scope["app"]  # as FastAPI builds its ExceptionMiddleware: 500 and Exception go further out
    handlers = {key: value for key, value in app.exception_handlers.items() if key not in (500, Exception)}
    middleware = ExceptionMiddleware(_Reraise(exc, started), handlers=handlers, debug=app.debug)
    await middleware(scope, receive, _discard if started else send)


class _Reraise:
    """The ASGI app raising an exception caught earlier, the response started or not."""

    def __init__(self, exc: Exception, started: bool) -> None:
        self.exc = exc
        self.started = started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.started:
            await send({"type": "http.response.start", "status": 500, "headers": []})
        raise self.exc


async def _discard(message: Message) -> None:
    pass
