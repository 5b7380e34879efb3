"""The three CDS Hooks endpoints: discovery, the service call, feedback."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from cds.api.deps import AuthenticatedRoute, service_of
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
    service = service_of(request)
    service.check_service(service_id)
    result = _answer_from_prefetch(service, await request.body())
    if isinstance(result, PendingCall):  # data to fetch: blocking I/O, off the event loop
        await run_in_threadpool(service.fetch, result)
        result = service.finish(result)
    rule_ids = [card["source"]["topic"]["code"] for card in result["cards"]]
    count_cards(rule_ids)
    request.app.state.shown.add(rule_ids)
    return json_response(result)


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
