"""Prefetch templates and the CDS Hooks decision table for what a client sent in each key.

| prefetch[key]           | meaning                                                      |
|-------------------------|--------------------------------------------------------------|
| resource or Bundle      | use it (a Bundle with a ``next`` link is only a first page)  |
| ``null``                | no data: treat as empty, do not fetch                        |
| OperationOutcome        | the client's fetch failed: fetch it ourselves if we can      |
| absent                  | not prefetched: fetch it ourselves if we can                 |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

import msgspec

from cds.errors import BadRequest
from cds.evidence import DataIssue, Evidence
from cds.fhir import wire
from cds.fhir.models import READ_TYPES, Resource
from cds.fhir.split import SplitBundle, loads, open_value


@dataclass(frozen=True, slots=True)
class PrefetchKey:
    name: str
    template: str
    required: bool  # without it no card can be trusted: 412 when it cannot be had
    what: str  # how the data reads to a clinician ("the patient's conditions")


def prefetch_keys(observation_codes: Sequence[str]) -> tuple[PrefetchKey, ...]:
    codes = ",".join(observation_codes)
    obs_query = "Observation?patient={{context.patientId}}" + (f"&code={codes}" if codes else "")
    return (
        PrefetchKey("patient", "Patient/{{context.patientId}}", True, "the patient record"),
        PrefetchKey(
            "conditions", "Condition?patient={{context.patientId}}", True, "the patient's conditions"
        ),
        PrefetchKey("observations", obs_query, True, "tumour marker, staging, genomic and hormone results"),
        PrefetchKey(
            "medicationRequests",
            "MedicationRequest?patient={{context.patientId}}",
            False,
            "medication orders (prior cancer therapy)",
        ),
        PrefetchKey(
            "medicationStatements",
            "MedicationStatement?patient={{context.patientId}}",
            False,
            "medication statements (prior cancer therapy)",
        ),
        PrefetchKey(
            "procedures", "Procedure?patient={{context.patientId}}", False, "procedures (oophorectomy)"
        ),
    )


_READ_TYPES: Final = READ_TYPES  # a static, not a lookup by name, in compiled code

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace ``{{context.x}}`` tokens with the (already validated) context values."""
    return _TOKEN.sub(lambda m: str(context.get(m.group(1), "")), template)


@dataclass(slots=True)
class KeyData:
    """What one prefetch key yielded: resources, problems found, and whether it must still be fetched.

    ``resources`` are parsed JSON objects or read models. A Bundle's entries can also wait, unread,
    until the chart is read (``read_all``): ``entries``, decoded into read models (cds.fhir.wire), or
    ``unparsed`` slices of a large request (cds.fhir.split), each parsed as it is reached. Either way
    each entry is looked at once, just before the selector reads its resource: at 10,000 resources a
    separate pass over the entries found each one gone from the CPU's caches (~2 ms a call).
    """

    resources: list[Any] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    needs_fetch: bool = False
    next_url: str | None = None  # a Bundle's next page, to be followed by the fetcher
    entries: list[wire.Entry] = field(default_factory=list)  # a decoded Bundle's, not yet read
    unparsed: list[tuple[msgspec.Raw, bool]] = field(default_factory=list)  # (resource, is an outcome)
    key: str = ""

    def read_all(self) -> Iterator[Any]:
        """Every resource: the waiting entries first (in Bundle order), then ``resources``. Once: the
        entries' problems become issues as they are read, and the entries are not kept."""
        entries, self.entries = self.entries, []
        for i, entry in enumerate(entries):
            resource, search = entry.resource, entry.search
            outcome = search is not None and search.mode == "outcome"
            if outcome or type(resource) not in _READ_TYPES:  # not the usual entry: a read model
                resource = _entry_resource(self, i, resource, outcome=outcome)
                if resource is None:
                    continue
            yield resource
        unparsed, self.unparsed = self.unparsed, []
        for i, (raw, outcome) in enumerate(unparsed):
            resource = _entry_resource(self, i, loads(raw), outcome=outcome)
            if resource is not None:
                yield resource
        yield from self.resources


def chart_of(keyed: Mapping[str, KeyData]) -> Iterator[Any]:
    """Every resource of every key, in order (chained in C: no generator of its own per resource)."""
    return chain.from_iterable([_resources_of(data) for data in keyed.values()])


def _resources_of(data: KeyData) -> Iterable[Any]:
    if data.entries or data.unparsed:
        return data.read_all()
    return data.resources  # a single resource, or a FHIR server's answer: no generator per resource


def _next_url(links: Any) -> str | None:
    """The url of a Bundle's ``next`` link, given its ``link`` member."""
    for link in links or ():
        if isinstance(link, Mapping) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def unpack(value: Mapping[str, Any], key: str) -> KeyData:
    """Resources of a resource-or-Bundle value; searchset OperationOutcome entries become issues.

    Parsed JSON objects are ``dict``s; checking for ``dict`` rather than ``Mapping`` matters here, where
    every entry of every Bundle is checked (an ABC isinstance check is several times slower).
    """
    data = KeyData(key=key)
    if value.get("resourceType") != "Bundle":
        data.resources.append(value)
        return data
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise BadRequest(f"prefetch.{key}.entry must be a list", expression=f"prefetch.{key}.entry")
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            search = entry.get("search")
            outcome = isinstance(search, dict) and search.get("mode") == "outcome"
            resource = _entry_resource(data, i, entry.get("resource"), outcome=outcome)
        else:
            resource = _entry_resource(data, i, None, outcome=False)
        if resource is not None:
            data.resources.append(resource)
    data.next_url = _next_url(value.get("link"))
    return data


def _entry_resource(data: KeyData, i: int, resource: Any, *, outcome: bool) -> Any:
    """A Bundle entry's resource (parsed JSON or read model), or None with an issue: no resource, or
    an OperationOutcome (by its type, or by the entry's search mode)."""
    if isinstance(resource, wire.OperationOutcome):
        outcome, issues = True, resource.issue
    elif isinstance(resource, dict):
        outcome = outcome or resource.get("resourceType") == "OperationOutcome"
        issues = resource.get("issue")
    elif isinstance(resource, Resource):
        issues = None
    else:
        data.issues.append(
            DataIssue("data", "unreadable", f"{data.key}: Bundle entry {i} holds no resource.")
        )
        return None
    if outcome:
        data.issues.append(_outcome_issue(issues, data.key))
        return None
    return resource


def unpack_wire(value: wire.Bundle, key: str) -> KeyData:
    """``unpack`` for a Bundle decoded into read models (cds.fhir.wire); its entries are read with the
    chart (``KeyData.read_all``)."""
    return KeyData(entries=value.entry or [], next_url=_next_url(value.link), key=key)


def _outcome_issue(issues: Any, key: str) -> DataIssue:
    """An issue for an OperationOutcome, given its ``issue`` member."""
    texts = []
    for issue in issues if isinstance(issues, list) else ():
        if isinstance(issue, Mapping):
            detail = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            if isinstance(detail, str):
                texts.append(detail[:200])
    message = f"The FHIR server reported a problem reading {key}: {'; '.join(texts) or 'no details'}."
    return DataIssue("data", "unreadable", message, (Evidence(f"OperationOutcome ({key})", None, "server"),))


def read_prefetch(prefetch: Mapping[str, Any] | None, keys: Sequence[PrefetchKey]) -> dict[str, KeyData]:
    """Apply the decision table to every key the service declares."""
    sent = prefetch or {}
    out: dict[str, KeyData] = {}
    for spec in keys:
        if spec.name not in sent:
            out[spec.name] = KeyData(needs_fetch=True, key=spec.name)
            continue
        value = sent[spec.name]
        if isinstance(value, msgspec.Raw):  # a large request's (cds.fhir.split)
            value = open_value(value)
        if isinstance(value, wire.Bundle):  # the usual request's (cds.fhir.wire)
            out[spec.name] = unpack_wire(value, spec.name)
        elif isinstance(value, wire.OperationOutcome):
            out[spec.name] = KeyData(
                needs_fetch=True, key=spec.name, issues=[_outcome_issue(value.issue, spec.name)]
            )
        elif isinstance(value, Resource):
            out[spec.name] = KeyData(resources=[value], key=spec.name)
        elif isinstance(value, SplitBundle):
            out[spec.name] = KeyData(unparsed=value.entries, next_url=_next_url(value.link), key=spec.name)
        elif value is None:
            out[spec.name] = KeyData(key=spec.name)
        elif not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
            raise BadRequest(
                f"prefetch.{spec.name} must be a FHIR resource, a Bundle or null",
                expression=f"prefetch.{spec.name}",
            )
        elif value["resourceType"] == "OperationOutcome":
            out[spec.name] = KeyData(
                needs_fetch=True, key=spec.name, issues=[_outcome_issue(value.get("issue"), spec.name)]
            )
        else:
            out[spec.name] = unpack(value, spec.name)
    return out
