"""From request bytes to read models: the one decoder, and the parsing helpers every endpoint uses.

A hook request is decoded by msgspec in one pass: its members (``hook``, ``context``...) into plain JSON
values, each prefetch value into its shape (a Bundle's entries, a single resource) with every resource
left as its slice of the body (``msgspec.Raw``). Each resource is then decoded on its own into its read
model (cds.fhir.models), so a bad resource costs only itself: it is reported as a data issue and
skipped, never fatal. A FHIR server's answers (dicts, cds.fhir.client) are read by the same rules
(``read_value``).

What is not R4 is read where its meaning is unambiguous (``upgrade``: DSTU2/STU3 status strings,
``patient`` for ``subject``, DSTU2 MedicationOrder as a MedicationRequest), else reported by name as
not FHIR R4. Resource types the profile does not read (Encounter, via ``_include``) are skipped.

Data issues are bounded at their source (cds.fhir.issues), and the number of JSON values in a request
too (``MAX_VALUES``).

One module, about 410 lines: it is the one path from request bytes to read models, kept whole so a
reader follows a request without jumping between files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError

from cds.errors import BadRequest, PayloadTooLarge
from cds.evidence import DataIssue, Evidence
from cds.fhir.issues import Issues
from cds.fhir.models import (
    MODELS,
    Condition,
    Medication,
    MedicationAdministration,
    MedicationRequest,
    MedicationStatement,
    Observation,
    Patient,
    Procedure,
    Resource,
)
from cds.fhir.older import older, upgrade

M = TypeVar("M", bound=BaseModel)

# --- parsing helpers ------------------------------------------------------------------------------


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """First validation error as (sentence, FHIRPath-like location); never echoes input values."""
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith("function-"))
    msg = str(err.get("msg", "invalid value"))
    return (f"{loc}: {msg}" if loc else msg), (loc or None)


def validated(model: type[M], data: Any, *, at: str = "") -> M:
    """``model.model_validate(data)``, or a 400 naming the first bad field (prefixed by ``at``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, where = validation_message(exc)
        path = ".".join(p for p in (at, where or "") if p) or None
        raise BadRequest(f"{at}.{message}" if at else message, expression=path) from exc


def within_depth(value: Any, limit: int) -> bool:
    """False when parsed JSON is nested deeper than ``limit`` (iterative: deep input cannot exhaust
    the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        children = node.values() if type(node) is dict else node if type(node) is list else ()
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return True


def refuse_deep(value: Any, max_depth: int) -> None:
    """BadRequest when parsed JSON is nested deeper than ``max_depth``."""
    if not within_depth(value, max_depth):
        raise BadRequest(f"The request is nested more than {max_depth} levels deep.")


def refuse_invalid_utf8(body: bytes) -> None:
    """One answer for invalid UTF-8 anywhere in a body, also in elements the service never reads: 400."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The request body is not valid UTF-8 (at byte {exc.start}).") from None


def parse_json(body: bytes, max_depth: int) -> Any:
    """A JSON body as plain values (feedback); 400 when it is not UTF-8 JSON or is nested too deep."""
    refuse_invalid_utf8(body)
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {_decode_error(exc)}") from None
    refuse_deep(data, max_depth)
    return data


def _decode_error(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc).replace("`", "")


# --- the hook request -------------------------------------------------------------------------------

AnyResource = (
    Patient
    | Condition
    | Observation
    | MedicationRequest
    | MedicationStatement
    | MedicationAdministration
    | Procedure
    | Medication
)


class _Request(msgspec.Struct):
    """The CDS Hooks request members; all but the prefetch stay JSON for the usual checks (cds.hooks).
    Unknown members are skipped (the wire model allows them)."""

    hook: Any = msgspec.UNSET
    hookInstance: Any = msgspec.UNSET
    fhirServer: Any = msgspec.UNSET
    fhirAuthorization: Any = msgspec.UNSET
    context: Any = msgspec.UNSET
    prefetch: dict[str, msgspec.Raw] | msgspec.UnsetType | None = msgspec.UNSET
    extension: Any = msgspec.UNSET


_ABSENT = msgspec.Raw()
_NULL = msgspec.Raw(b"null")


class _Search(msgspec.Struct):
    mode: Any = None


class _Entry(msgspec.Struct):
    resource: msgspec.Raw = _ABSENT  # empty when absent
    search: _Search | None = None


class _Value(msgspec.Struct):
    """A prefetch value's shape: a Bundle (entries and links) or a single resource (its type)."""

    resourceType: Any = None
    entry: list[_Entry] | None = None
    link: Any = None
    issue: Any = None  # an OperationOutcome's


class _ReadEntry(msgspec.Struct, gc=False):
    resource: AnyResource | None = None
    search: _Search | None = None


class _ReadBundle(msgspec.Struct, tag="Bundle", tag_field="resourceType"):
    entry: list[_ReadEntry] | None = None
    link: Any = None


_request_decoder = msgspec.json.Decoder(_Request)
# The usual value in one decode: a Bundle whose entries are all resources the read models take, or one
# such resource. Any other is looked at closer, entry by entry.
_usual_decoder = msgspec.json.Decoder(_ReadBundle | AnyResource)
_value_decoder = msgspec.json.Decoder(_Value | None)
_resource_decoder = msgspec.json.Decoder(AnyResource)
_MEMBERS = _Request.__struct_fields__


# At most this many JSON values (counted by their separators) in a request: the work and memory of a
# call grow with them (~40 bytes a Bundle entry), whatever the body's size. A 10,000-resource chart
# holds ~190,000; 3,000,000 empty Bundle entries (9 MB) would hold 3,000,000 and are refused. A body
# smaller than twice the limit cannot exceed it, so only large bodies are counted (~1 ms a MB).
MAX_VALUES = 1_000_000


def refuse_too_many_values(body: bytes) -> None:
    if len(body) > 2 * MAX_VALUES and body.count(b",") > MAX_VALUES:
        raise PayloadTooLarge(
            f"The request holds more than {MAX_VALUES:,} JSON values, more than any chart this service reads."
        )


def decode_request(body: bytes, max_depth: int) -> tuple[dict[str, Any], dict[str, msgspec.Raw] | None]:
    """The request's members (plain JSON, prefetch excluded) and its prefetch values, still unread."""
    refuse_invalid_utf8(body)
    refuse_too_many_values(body)
    try:
        request = _request_decoder.decode(body)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`, got"):
            raise BadRequest("The request body must be a JSON object.") from None
        raise BadRequest(f"The request does not follow CDS Hooks: {_decode_error(exc)}") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BadRequest(f"The request body is not valid JSON: {_decode_error(exc)}") from None
    members = {
        name: value
        for name in _MEMBERS
        if name != "prefetch" and (value := getattr(request, name)) is not msgspec.UNSET
    }
    refuse_deep(members, max_depth)
    prefetch = request.prefetch
    return members, (None if prefetch is msgspec.UNSET else prefetch)


@dataclass(slots=True)
class KeyData:
    """What one prefetch key yielded: read models, problems found, and whether it must still be fetched."""

    key: str
    resources: list[Resource] = field(default_factory=list)
    issues: Issues = field(default_factory=Issues)
    needs_fetch: bool = False
    next_url: str | None = None  # a Bundle's next page, to be followed by the fetcher


@dataclass(frozen=True, slots=True)
class Reader:
    """How resources are read: ``full`` adds whole-resource R4B validation for the types the profile
    reads (on the resource as sent), ``max_depth`` bounds its nesting for that validation."""

    full: bool = False
    max_depth: int = 64


def read_key_value(raw: msgspec.Raw, key: str, reader: Reader) -> KeyData:
    """A prefetch value (the CDS Hooks decision table, cds.fhir.prefetch): a Bundle's entries or a
    single resource, read; an OperationOutcome, or absent, means fetch it ourselves."""
    data = KeyData(key)
    if not reader.full:
        try:
            usual = _usual_decoder.decode(raw)
        except msgspec.ValidationError:
            pass
        else:
            if isinstance(usual, Resource):
                data.resources.append(usual)
                return data
            if _read_bundle(usual, data):
                return data
    try:
        value = _value_decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        value = _Value()  # not an object
    if value is None:  # null: no data, do not fetch
        return data
    if not isinstance(value.resourceType, str):
        raise BadRequest(
            f"prefetch.{key} must be a FHIR resource, a Bundle or null", expression=f"prefetch.{key}"
        )
    if value.resourceType == "OperationOutcome":
        data.needs_fetch = True
        data.issues.add("outcome", outcome_issue(value.issue, key), more="{n} more OperationOutcomes")
    elif value.resourceType == "Bundle":
        for i, entry in enumerate(value.entry or ()):
            outcome = entry.search is not None and entry.search.mode == "outcome"
            resource = _read_raw(entry.resource, data, i, reader, outcome=outcome)
            if resource is not None:
                data.resources.append(resource)
        data.next_url = next_url(value.link)
    else:
        resource = _read_raw(raw, data, 0, reader, outcome=False)
        if resource is not None:
            data.resources.append(resource)
    return data


def _read_bundle(bundle: _ReadBundle, data: KeyData) -> bool:
    """A Bundle decoded whole into read models, when it holds no entry that needs a closer look."""
    resources: list[Resource] = []
    for entry in bundle.entry or ():
        resource = entry.resource
        if resource is None or (entry.search is not None and entry.search.mode == "outcome"):
            return False
        resources.append(resource)
    data.resources = resources
    data.next_url = next_url(bundle.link)
    return True


def _read_raw(raw: msgspec.Raw, data: KeyData, i: int, reader: Reader, *, outcome: bool) -> Resource | None:
    if not raw or raw == _NULL:
        _no_resource(data, i)
        return None
    if not outcome and not reader.full:
        try:
            resource: Resource = _resource_decoder.decode(raw)
            return resource
        except msgspec.ValidationError:
            pass  # not R4 as the read models take it, or not a type they read: look closer
    try:
        value = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        value = None
    return read_value(value, data, i, reader, outcome=outcome)


def read_values(values: Iterable[Any], data: KeyData, reader: Reader) -> None:
    """Resources as a FHIR server answered them (parsed JSON), read into ``data``."""
    for i, value in enumerate(values):
        resource = read_value(value, data, i, reader, outcome=False)
        if resource is not None:
            data.resources.append(resource)


def read_value(value: Any, data: KeyData, i: int, reader: Reader, *, outcome: bool) -> Resource | None:
    """A resource as parsed JSON, as its read model; None when it is not one the profile reads or
    cannot be read (an issue says which, for types the profile reads)."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        _no_resource(data, i)
        return None
    rtype: str = value["resourceType"]
    if outcome or rtype == "OperationOutcome":
        data.issues.add(
            "outcome", outcome_issue(value.get("issue"), data.key), more="{n} more OperationOutcomes"
        )
        return None
    upgraded = upgrade(value)
    if upgraded is None:
        return None  # a type the profile does not read
    ref = reference(rtype, value.get("id"))
    try:
        if reader.full:
            if not within_depth(upgraded, reader.max_depth):
                raise ValueError(f"nested more than {reader.max_depth} levels deep")
            get_fhir_model_class(upgraded["resourceType"]).model_validate(upgraded)
        resource: Resource = msgspec.convert(upgraded, MODELS[upgraded["resourceType"]])
        return resource
    except (msgspec.ValidationError, ValueError) as exc:
        data.issues.add(
            "unreadable",
            unreadable(ref, read_error(exc), is_r4=not older(value)),
            more=f"{{n}} more resources in {data.key} could not be read",
        )
        return None


def _no_resource(data: KeyData, i: int) -> None:
    data.issues.tally(
        "no-resource",
        "data",
        "unreadable",
        f"{data.key}: {{n}} Bundle entries held no resource.",
    )


def unreadable(ref: str, detail: str, *, is_r4: bool = True) -> DataIssue:
    what = "is not valid FHIR R4" if is_r4 else "is not FHIR R4 (an older FHIR version?)"
    return DataIssue(
        "data",
        "unreadable",
        f"{ref} {what} and was not used ({detail}).",
        (Evidence(ref, None, "failed FHIR R4 validation"),),
    )


def reference(rtype: str | None, rid: Any) -> str:
    return f"{rtype or '?'}/{rid if isinstance(rid, str) and rid else '?'}"


def read_error(exc: Exception) -> str:
    """What made a resource unreadable, as ``path: message``; never a value from the data."""
    if isinstance(exc, msgspec.ValidationError):
        # ``$.code.coding[0].code`` -> ``code.coding.0.code``; its messages name types and fields, never
        # values, except for an invalid tag: not quoted
        message, _, at = str(exc).partition(" - at `")
        where = at.rstrip("`").removeprefix("$").lstrip(".").replace("[", ".").replace("]", "")
        message = "invalid value" if message.startswith("Invalid value") else message.replace("`", "")
        return f"{where}: {message}" if where else message
    if isinstance(exc, ValidationError):  # R4B's (full validation)
        err = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))
    return str(exc)


def next_url(links: Any) -> str | None:
    """The url of a Bundle's ``next`` link, given its ``link`` member."""
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def outcome_texts(issues: Any) -> list[str]:
    """What an OperationOutcome's ``issue`` member says, as sent by a server: each issue's diagnostics,
    else its details' text, else its code (200 characters at most); what is not a string is left out."""
    texts = []
    for issue in issues if isinstance(issues, list) else ():
        if not isinstance(issue, Mapping):
            continue
        details = issue.get("details")
        detail_text = details.get("text") if isinstance(details, Mapping) else None
        said = issue.get("diagnostics") or detail_text or issue.get("code")
        if isinstance(said, str):
            texts.append(said[:200])
    return texts


def outcome_issue(issues: Any, key: str) -> DataIssue:
    """An issue for an OperationOutcome, given its ``issue`` member. One in a medication key says what
    it costs (a cancer medicine given may be missing, so an option may repeat it), as an issue of a kind
    of its own, so that a chart's summary shows it beside a problem reading other data, not as "1 more
    like it" (Epic's "Outside Record" notices, third-party round 6)."""
    said = "; ".join(text.rstrip(". ") for text in outcome_texts(issues)) or "no details"
    message = f"The FHIR server reported a problem reading {key}: {said}."
    evidence = (Evidence(f"OperationOutcome ({key})", None, "server"),)
    if key.startswith("medication"):
        cost = " Cancer medicines recorded there may be missing, so an option may repeat a past treatment."
        return DataIssue("data", "missing", message + cost, evidence)
    return DataIssue("data", "unreadable", message, evidence)
