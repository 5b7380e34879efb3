"""OpenAPI metadata for routes that read their raw body (decoded by cds.fhir.request, not by FastAPI).

FastAPI cannot see a request body it does not parse, so the routes declare it with ``openapi_extra``
built from the same pydantic models that validate it, and declare every error status they answer, each
with an OperationOutcome body. /openapi.json is what the schemathesis fuzz test drives.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from cds.hooks import FeedbackRequest, HookRequest, PatientViewContext

JSON = "application/json"

OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def _outcome(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": OPERATION_OUTCOME_SCHEMA}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


_UNAUTHORIZED = _outcome("No valid bearer JWT for this exact endpoint (no detail is given)")
_NOT_FOUND = _outcome("No CDS service with this id")
_TOO_LARGE = _outcome("The body is larger than CDS_MAX_BODY_BYTES")
_TOO_SLOW = _outcome("The body did not arrive in time")
_NOT_JSON = _outcome("The body was not sent as Content-Type: application/json")
_BUSY = _outcome("Too many calls in processing; retry after Retry-After seconds")
_BAD = _outcome("The body is not valid JSON, is nested too deeply, or breaks the CDS Hooks rules")
# Declaring "4XX" also stops FastAPI from documenting a 422 the service never sends (it answers 400).
_OTHER = _outcome("Any other client error, e.g. 405 for a wrong method")

DISCOVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _ok(
        "The services this CDS service offers",
        {"type": "object", "required": ["services"], "properties": {"services": {"type": "array"}}},
    ),
    401: _UNAUTHORIZED,
}

CALL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _ok(
        "Cards (possibly none)",
        {
            "type": "object",
            "required": ["cards"],
            "properties": {"cards": {"type": "array", "items": {"type": "object"}}},
        },
    ),
    400: _BAD,
    401: _UNAUTHORIZED,
    404: _NOT_FOUND,
    408: _TOO_SLOW,
    412: _outcome("Required data was neither prefetched nor obtainable from the FHIR server"),
    413: _TOO_LARGE,
    415: _NOT_JSON,
    503: _BUSY,
    "4XX": _OTHER,
}

FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _ok(
        "How many feedback items were received and how many were new",
        {
            "type": "object",
            "required": ["received", "stored"],
            "properties": {"received": {"type": "integer"}, "stored": {"type": "integer"}},
        },
    ),
    400: _BAD,
    401: _UNAUTHORIZED,
    404: _NOT_FOUND,
    408: _TOO_SLOW,
    413: _TOO_LARGE,
    415: _NOT_JSON,
    503: _BUSY,
    "4XX": _OTHER,
}

DOCUMENTED_ERROR_STATUSES = frozenset({400, 401, 404, 405, 408, 412, 413, 415, 503})


def _inline(node: Any, defs: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Replace pydantic's ``#/$defs/X`` references by the definitions themselves.

    In /openapi.json a ``$ref`` resolves against the whole document, where ``#/$defs`` does not exist.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:  # recursive models are not expected; stop rather than loop
                return {}
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_inline(defs[name], defs, (*seen, name)), **_inline(rest, defs, seen)}
        return {k: _inline(v, defs, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs, seen) for v in node]
    return node


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its definitions inlined."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    result: dict[str, Any] = _inline(schema, defs)
    return result


def request_body(
    model: type[BaseModel], description: str, *, properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body validated by ``model``.

    ``properties`` narrows fields the model checks in code (a validator) rather than in its schema.
    """
    schema = model_schema(model)
    if properties:
        schema["properties"] = {**schema.get("properties", {}), **properties}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {JSON: {"schema": schema}},
        }
    }


def call_request_body() -> dict[str, Any]:
    """The patient-view request: HookRequest, with what cds.service checks beyond the model."""
    return request_body(
        HookRequest,
        "A CDS Hooks 2.0 patient-view request",
        properties={
            "hook": {"const": "patient-view"},
            "hookInstance": {"type": "string", "format": "uuid"},
            "context": model_schema(PatientViewContext),
        },
    )


def feedback_request_body() -> dict[str, Any]:
    """Feedback, with the spec rules FeedbackItem checks in a validator (cds-fb-1..3) as schema."""
    body = request_body(FeedbackRequest, "CDS Hooks 2.0 feedback on cards shown")
    schema = body["requestBody"]["content"][JSON]["schema"]
    items = schema["properties"]["feedback"]["items"]
    items["oneOf"] = [
        {
            "properties": {
                "outcome": {"const": "accepted"},
                "acceptedSuggestions": {"type": "array", "minItems": 1},
            },
            "required": ["acceptedSuggestions"],
            "not": {"required": ["overrideReason"]},
        },
        {
            "properties": {
                "outcome": {"const": "overridden"},
                "overrideReason": {
                    "anyOf": [
                        {"required": ["reason"], "properties": {"reason": {"type": "object"}}},
                        {
                            "required": ["userComment"],
                            "properties": {"userComment": {"type": "string", "minLength": 1}},
                        },
                    ]
                },
            }
        },
    ]
    return body
