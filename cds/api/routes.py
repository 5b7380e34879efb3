"""The three CDS Hooks endpoints: discovery, the service call, feedback.

Every route of ``router`` authenticates the caller first (a router dependency). Each path is also
answered with a trailing slash, as the same route, rather than redirected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from cds.api.deps import authenticate, json_body, service_of
from cds.api.openapi import (
    CALL_RESPONSES,
    DISCOVERY_RESPONSES,
    FEEDBACK_RESPONSES,
    call_request_body,
    feedback_request_body,
)
from cds.errors import ServiceUnavailable
from cds.fhir.request import parse_json, validated
from cds.hooks import FeedbackItem, FeedbackRequest
from cds.observability import call_log, count_cards, count_feedback, hook_instance_var
from cds.pathway.ids import key_of
from cds.pathway.knowledge import Knowledge
from cds.pathway.render import shown_ids
from cds.service import PatientViewService, PendingCall, collector_paused
from cds.store import FeedbackRecord, FeedbackStore

log = logging.getLogger("cds.api")
router = APIRouter(dependencies=[Depends(authenticate)])

JSON = "application/json"
# A body larger than this (~350 resources, ~4 ms of work) is parsed and answered in a worker thread, so
# that the event loop keeps answering other requests (their bodies' deadlines, /healthz) meanwhile.
# The hop costs ~0.1 ms (measured on the 2-core machine): 2-3% of such a call, 7% of a 100-resource one.
OFF_LOOP_BYTES = 256 * 1024


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


class ProcessingLimit:
    """At most ``limit`` hook or feedback calls in processing at once (per worker), counted once their
    body has arrived: idle or slow connections take no slot. Beyond it, 503 with Retry-After."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    async def __aenter__(self) -> None:
        if self.in_flight >= self.limit:
            raise ServiceUnavailable(f"More than {self.limit} calls in processing; retry shortly.")
        self.in_flight += 1

    async def __aexit__(self, *exc_info: object) -> None:
        self.in_flight -= 1


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
    service = service_of(request)
    service.check_service(service_id)
    body = await json_body(request)
    state = request.app.state
    async with state.limit:
        if len(body) > OFF_LOOP_BYTES:
            result = await run_in_threadpool(_answer_from_prefetch, service, body)
        else:
            result = _answer_from_prefetch(service, body)
        if isinstance(result, PendingCall):  # data to fetch: blocking I/O, off the event loop
            await run_in_threadpool(service.fetch, result)
            _note_keys(result)
            result = service.finish(result)
    shown = shown_ids(result["cards"])  # each card's group, then each rule behind it
    call_log().update(cards=len(result["cards"]))
    count_cards(shown)
    state.shown.add(shown)
    return Response(orjson.dumps(result), media_type=JSON)


def _answer_from_prefetch(service: PatientViewService, body: bytes) -> dict[str, Any] | PendingCall:
    """The answer when the prefetch holds all the data (the usual call), else the call to fetch for.

    One synchronous step with the cyclic collector paused, and the parsed chart freed before it
    resumes (see cds.service.collector_paused).
    """
    with collector_paused():
        pending = service.prepare(body)
        hook_instance_var.set(pending.request.hookInstance)
        call_log().update(hookInstance=pending.request.hookInstance)
        _note_keys(pending)
        if pending.needs_io:
            return pending
        answer = service.finish(pending)
        del pending  # the parsed chart goes now, while the collector is still paused
        return answer


def _note_keys(call: PendingCall) -> None:
    call_log().update(prefetch=call.key_report())


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
    body = await json_body(request)
    parsed = validated(FeedbackRequest, parse_json(body, service.settings.max_json_depth))
    records = [_record(service_id, item, service.knowledge) for item in parsed.feedback]
    store: FeedbackStore = request.app.state.store
    async with request.app.state.limit:
        stored = await asyncio.to_thread(store.add, records)
    for record in records:
        count_feedback(record.rule_id, record.outcome)
    call_log().update(feedback=len(records))
    return json_response({"received": len(records), "stored": stored})


def _with_trailing_slashes() -> None:
    """Each path also answered with a trailing slash (the same endpoint, not in the OpenAPI document):
    a redirect would answer an unauthenticated 307 whose Location comes from the Host header."""
    for route in list(router.routes):
        path = getattr(route, "path", "")
        methods = getattr(route, "methods", None)
        endpoint = getattr(route, "endpoint", None)
        if path and endpoint is not None:
            router.add_api_route(path + "/", endpoint, methods=list(methods or ()), include_in_schema=False)


_with_trailing_slashes()
