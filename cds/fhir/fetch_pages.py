"""Reading one prefetch key from a FHIR server: the query (or a read), then its search pages while
their ``next`` links stay under the server's base, up to the page and resource caps (a DataIssue
says what was cut short); each answer checked to be a FHIR R4 Bundle (or the resource read), a
server's OperationOutcome named."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from cds.evidence import DataIssue, Evidence
from cds.fhir.fetch_http import BoundedGet, FetchError
from cds.fhir.request import next_url, outcome_issue, outcome_texts
from cds.fhir.urls import Base, url_under
from cds.observability import observe_fhir_fetch

log = logging.getLogger("cds.fhir.client")  # the fetcher's log lines, under one name


@dataclass(slots=True)
class FetchResult:
    """One key's outcome. ``error`` (no token, no patient data) set when the data could not be had."""

    resources: list[Mapping[str, Any]] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    error: str | None = None


_OLD_TYPES = {  # resource types that exist in DSTU2/STU3 but not in R4
    "MedicationOrder": "DSTU2",
    "DiagnosticOrder": "DSTU2",
    "DeviceUseRequest": "DSTU2",
    "ProcedureRequest": "STU3",
    "ReferralRequest": "STU3",
    "ProcessRequest": "STU3",
}


def _not_r4(resource: Mapping[str, Any]) -> str | None:
    """A cheap sign that a resource is DSTU2/STU3 rather than R4, described for a person, or None."""
    rtype = resource.get("resourceType")
    if isinstance(rtype, str) and rtype in _OLD_TYPES:
        return f"it returned {rtype} resources, which exist only in FHIR {_OLD_TYPES[rtype]}"
    if rtype == "Condition":
        if "patient" in resource and "subject" not in resource:
            return "its Conditions name the patient in Condition.patient, as in FHIR DSTU2"
        for name in ("clinicalStatus", "verificationStatus"):
            if isinstance(resource.get(name), str):
                return f"its Conditions carry {name} as a plain code, as in FHIR DSTU2/STU3"
    if rtype in {"MedicationStatement", "MedicationRequest"} and "patient" in resource:
        return f"its {rtype}s name the patient in {rtype}.patient, as in FHIR DSTU2"
    if rtype == "Observation" and isinstance(resource.get("comments"), str):
        return "its Observations carry Observation.comments, as in FHIR DSTU2"
    return None


@dataclass(slots=True)
class _Page:
    resources: list[Mapping[str, Any]]
    issues: list[DataIssue]
    next_url: str | None


class PageReader:
    """Reads keys through ``http`` with the page and resource caps of Settings."""

    def __init__(self, http: BoundedGet, *, max_pages: int, max_resources: int) -> None:
        self.http = http
        self.max_pages = max_pages
        self.max_resources = max_resources

    def read(
        self,
        key: str,
        url: str,
        base: Base,
        headers: Mapping[str, str],
        deadline: float,
        stop: threading.Event,
        pages_before: int,
    ) -> FetchResult:
        """One key's outcome (``pages_before`` 1 for a continuation): its resources and data issues, or
        why it could not be read; a metric and, on failure, a log line (no token, no patient data)."""
        started = time.monotonic()
        result = FetchResult()
        try:
            target = url_under(url, base)
            if target is None and pages_before:
                raise FetchError("its next page lies outside fhirServer and was not followed", "foreign_next")
            if target is None:
                raise FetchError("its query leads outside fhirServer and was not sent", "foreign_query")
            if not pages_before and target.split("?", 1)[0] != url.split("?", 1)[0]:
                # the service builds queries from FHIR ids: '..', '.', '//' or '%2e' come from an id
                # that is not one (e.g. patientId '..' would read the server's base URL)
                raise FetchError("its query holds a path segment no FHIR id can make; not sent", "bad_query")
            url = target
            relative = url[len(base.url) :]
            is_read = pages_before == 0 and "?" not in relative and relative.count("/") >= 2
            pages = pages_before
            while url:
                if stop.is_set():
                    raise FetchError("the hook call's deadline passed while reading it", "deadline")
                body = self.http.get(url, headers, deadline)
                pages += 1
                page = self._page(body, key, is_read=is_read)
                room = self.max_resources - len(result.resources)
                if len(page.resources) > room:
                    result.resources.extend(page.resources[:room])
                    result.issues.extend(page.issues)
                    result.issues.append(
                        self._truncated(key, f"only the first {self.max_resources} resources")
                    )
                    break
                result.resources.extend(page.resources)
                result.issues.extend(page.issues)
                if page.next_url is None:
                    break
                target = url_under(page.next_url, base)
                if target is None:
                    result.issues.append(
                        self._truncated(
                            key, "only the first page: the next link leaves fhirServer and was not followed"
                        )
                    )
                    break
                if pages >= self.max_pages:
                    result.issues.append(self._truncated(key, f"only the first {self.max_pages} pages"))
                    break
                url = target
            non_r4 = next((hint for r in result.resources if (hint := _not_r4(r))), None)
            if non_r4:
                raise FetchError(
                    f"the FHIR server's data is not FHIR R4 ({non_r4}); this service reads FHIR R4 only",
                    "not_r4",
                )
        except FetchError as exc:
            observe_fhir_fetch(time.monotonic() - started, ok=False, reason=exc.reason)
            log.warning("could not fetch prefetch key %s from %s: %s", key, base.url, exc)
            return FetchResult(error=str(exc))
        observe_fhir_fetch(time.monotonic() - started, ok=True)
        return result

    @staticmethod
    def _truncated(key: str, how: str) -> DataIssue:
        return DataIssue(
            "data",
            "truncated",
            f"{key}: the FHIR server had more data than this service reads; {how} were used.",
            (Evidence(f"search ({key})", None, "cut short"),),
        )

    def _page(self, body: bytes, key: str, *, is_read: bool) -> _Page:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise FetchError("the FHIR server returned something that is not FHIR JSON", "not_json") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("the FHIR server returned something that is not FHIR JSON", "not_fhir")
        rtype = data["resourceType"]
        if rtype == "OperationOutcome":
            said = "; ".join(outcome_texts(data.get("issue"))) or "no details"
            raise FetchError(f"the FHIR server reported a problem: {said}", "outcome")
        if is_read:
            if rtype == "Bundle":
                raise FetchError("the FHIR server answered a read with a Bundle", "unexpected")
            return _Page([data], [], None)
        if rtype != "Bundle":
            raise FetchError(
                f"the FHIR server answered a search with a {rtype[:64]}, not a Bundle", "unexpected"
            )
        if "type" not in data:
            raise FetchError(
                "the FHIR server returned a Bundle without a type, which is not FHIR R4", "not_r4"
            )
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            raise FetchError("the FHIR server returned a Bundle whose entry is not a list", "not_fhir")
        resources: list[Mapping[str, Any]] = []
        issues: list[DataIssue] = []
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                if isinstance(entry, dict) and "content" in entry:
                    raise FetchError(
                        "the FHIR server returned Bundle entries with content instead of resource, "
                        "which is FHIR DSTU1, not R4",
                        "not_r4",
                    )
                issues.append(DataIssue("data", "unreadable", f"{key}: Bundle entry {i} holds no resource."))
                continue
            search = entry.get("search")
            mode = search.get("mode") if isinstance(search, dict) else None
            if resource.get("resourceType") == "OperationOutcome" or mode == "outcome":
                issues.append(outcome_issue(resource.get("issue"), key))
                continue
            resources.append(resource)
        return _Page(resources, issues, next_url(data.get("link")))
