"""The patient-view pipeline: request -> prefetch/fetch -> selected resources -> profile -> cards.

Everything here is synchronous and free of HTTP framework types, so it is tested without a server and
the route only adapts it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from collections.abc import Mapping
from datetime import date
from typing import Any

import msgspec

from cds.errors import BadRequest, NotFound, PreconditionFailed
from cds.fhir.client import Fetcher
from cds.fhir.fetch_pages import FetchResult
from cds.fhir.prefetch import PrefetchKey, chart_of, fill_template, prefetch_keys, read_prefetch
from cds.fhir.request import KeyData, Reader, decode_request, read_values, validated
from cds.fhir.select import medications_to_fetch, select_resources
from cds.hooks import HookRequest, PatientViewContext
from cds.pathway.engine import evaluate
from cds.pathway.knowledge import Knowledge
from cds.pathway.render import render_cards
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import DataIssue, Fact, PatientProfile
from cds.settings import Settings

HOOK = "patient-view"


def collector_paused() -> CollectorPaused:
    """Pause the cyclic garbage collector; only the outermost pause resumes it, so pauses nest.

    A parsed chart is acyclic (JSON cannot hold a cycle) and reference counting frees it, but while it
    is alive the collections its allocations trigger trace all of it: ~35 ms a call at 10,000 resources.
    So the collector stays paused from parsing until the parsed chart is freed. Only synchronous work
    goes inside: an ``await`` would leave the collector paused for every other request too.
    """
    return CollectorPaused()


class CollectorPaused:
    """``collector_paused()``'s context manager: a plain class, a third of a generator-based one's cost
    (it is entered twice a call)."""

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: object) -> None:
        if self.was_enabled:
            gc.enable()


log = logging.getLogger("cds.service")

#: The Medications named by reference are read after the prefetch keys, under this name (no prefetch
#: template: their ids come from the medication records), so many ids a ``Medication?_id=`` query.
MEDICATIONS = "medications"
MEDICATIONS_PER_QUERY = 50


@dataclasses.dataclass(slots=True)
class PendingCall:
    request: HookRequest
    context: PatientViewContext
    keyed: dict[str, KeyData]
    deadline: float

    given: tuple[str, ...] = ()  # the keys the client prefetched
    fetched: list[str] = dataclasses.field(default_factory=list)  # the keys fetched here
    missing: list[str] = dataclasses.field(default_factory=list)  # the keys neither sent nor fetched

    @property
    def needs_io(self) -> bool:
        server = self.request.fhirServer
        return any(d.needs_fetch or d.next_url for d in self.keyed.values()) or bool(
            medications_to_fetch(chart_of(self.keyed), server)
        )

    def key_report(self) -> dict[str, list[str]]:
        """Prefetch key names (never their content) for the call's log line."""
        return {"given": list(self.given), "fetched": self.fetched, "missing": self.missing}


class PatientViewService:
    def __init__(self, settings: Settings, knowledge: Knowledge, fetcher: Fetcher) -> None:
        self.settings = settings
        self.reader = Reader(full=settings.fhir_validation == "full", max_depth=settings.max_json_depth)
        self.knowledge = knowledge
        self.fetcher = fetcher
        self.keys: tuple[PrefetchKey, ...] = prefetch_keys(knowledge.service.observation_codes)
        self.thresholds = MenopauseThresholds(
            fsh_min_iu_l=settings.menopause_fsh_min_iu_l,
            estradiol_max_pg_ml=settings.menopause_estradiol_max_pg_ml,
            age_years=settings.menopause_age_years,
        )

    @property
    def service_id(self) -> str:
        return self.knowledge.service.id

    def discovery(self) -> dict[str, Any]:
        text = self.knowledge.service
        return {
            "services": [
                {
                    "hook": HOOK,
                    "id": text.id,
                    "title": text.title,
                    "description": text.description,
                    "usageRequirements": text.usage_requirements,
                    "prefetch": {k.name: k.template for k in self.keys},
                }
            ]
        }

    def check_service(self, service_id: str) -> None:
        if service_id != self.service_id:
            raise NotFound(f"No CDS service with id {service_id!r}; see GET /cds-services.")

    # --- the call ---------------------------------------------------------------------------------

    def parse_request(
        self, body: bytes
    ) -> tuple[HookRequest, PatientViewContext, dict[str, msgspec.Raw] | None]:
        """The checked request, its context, and its prefetch values (still unread)."""
        members, prefetch = decode_request(body, self.settings.max_json_depth)
        request = validated(HookRequest, members)
        if request.hook != HOOK:
            raise BadRequest(
                f"This service answers the {HOOK} hook, not {request.hook!r}.", expression="hook"
            )
        context = validated(PatientViewContext, request.context, at="context")
        return request, context, prefetch

    def prepare(self, body: bytes) -> PendingCall:
        """Parse and check the request and read its prefetch (no I/O)."""
        started = time.monotonic()
        request, context, prefetch = self.parse_request(body)
        keyed = read_prefetch(prefetch, self.keys, self.reader)
        given = tuple(name for name, data in keyed.items() if not data.needs_fetch)
        return PendingCall(request, context, keyed, started + self.settings.hook_deadline_s, given)

    def fetch(self, call: PendingCall) -> None:
        """Fetch what the prefetch lacked (blocking network I/O: run it off the event loop)."""
        wanted = [name for name, data in call.keyed.items() if data.needs_fetch]
        self._fetch_missing(call.request, call.context, call.keyed, deadline=call.deadline)
        for name in wanted:
            failed = any(i.kind == "missing" for i in call.keyed[name].issues.list())
            (call.missing if failed else call.fetched).append(name)
        self._fetch_medications(call)

    def _fetch_medications(self, call: PendingCall) -> None:
        """The Medications the medication records name by reference, read from the fhirServer when the
        request did not bring them (the templates cannot ask for them: they are not the patient's)."""
        server = call.request.fhirServer
        ids = medications_to_fetch(chart_of(call.keyed), server)
        if not ids or server is None:
            return
        queries = {
            f"{MEDICATIONS}-{n}": "Medication?_id=" + ",".join(ids[i : i + MEDICATIONS_PER_QUERY])
            for n, i in enumerate(range(0, len(ids), MEDICATIONS_PER_QUERY))
        }
        results = self.fetcher.fetch(
            server=server,
            access_token=call.request.access_token,
            queries=queries,
            continuations={},
            deadline=call.deadline,
        )
        failed = False
        for name, result in results.items():
            if result.error is not None:  # the records stay unidentified: cds.fhir.select says so
                log.warning("reading the Medications named by reference failed: %s", result.error)
                failed = True
                continue
            data = call.keyed[name] = KeyData(name)
            read_values(result.resources, data, self.reader)
        (call.missing if failed else call.fetched).append(MEDICATIONS)

    def finish(self, call: PendingCall, *, today: date | None = None) -> dict[str, Any]:
        profile = self.profile(call.keyed, call.context.patientId, today or date.today())
        return {"cards": render_cards(evaluate(profile, self.knowledge), profile, self.knowledge)}

    def call(self, body: bytes, *, today: date | None = None) -> dict[str, Any]:
        """The whole hook call in one blocking step (CLI, tests)."""
        pending = self.prepare(body)
        if pending.needs_io:
            self.fetch(pending)
        return self.finish(pending, today=today)

    def profile(self, keyed: Mapping[str, KeyData], patient_id: str, today: date) -> PatientProfile:
        selection = select_resources(
            chart_of(keyed), patient_id=patient_id, terminology=self.knowledge.terminology
        )
        issues = [i for data in keyed.values() for i in data.issues.list()]
        issues.extend(selection.issues)
        profile = build_profile(
            selection.resources,
            patient_id=patient_id,
            today=today,
            terminology=self.knowledge.terminology,
            thresholds=self.thresholds,
            issues=issues,
        )
        incomplete = [
            i
            for i in profile.issues
            if i.topic == "data" and i.kind in {"missing", "truncated", "unreadable"}
        ]
        if incomplete:
            evidence = tuple(e for i in incomplete for e in i.evidence)
            profile = dataclasses.replace(
                profile,
                data_completeness=Fact("incomplete", evidence, f"{len(incomplete)} problem(s) reading data"),
            )
        return profile

    def _fetch_missing(
        self,
        request: HookRequest,
        context: PatientViewContext,
        keyed: dict[str, KeyData],
        *,
        deadline: float,
    ) -> None:
        specs = {k.name: k for k in self.keys}
        queries = {
            name: fill_template(specs[name].template, context.model_dump())
            for name, d in keyed.items()
            if d.needs_fetch
        }
        continuations = {name: d.next_url for name, d in keyed.items() if d.next_url}
        if not queries and not continuations:
            return
        if request.fhirServer is None:
            results = {
                name: FetchResult(error="it was not prefetched and the request names no fhirServer")
                for name in queries
            }
            results.update(
                {
                    name: FetchResult(error="only its first page was prefetched and no fhirServer was named")
                    for name in continuations
                }
            )
        else:
            results = self.fetcher.fetch(
                server=request.fhirServer,
                access_token=request.access_token,
                queries=queries,
                continuations=continuations,
                deadline=deadline,
            )
        self._merge(keyed, results, specs, self.reader)

    @staticmethod
    def _merge(
        keyed: dict[str, KeyData],
        results: Mapping[str, FetchResult],
        specs: Mapping[str, PrefetchKey],
        reader: Reader,
    ) -> None:
        failed_required: list[str] = []
        for name, result in results.items():
            data = keyed[name]
            spec = specs[name]
            if result.error is None:
                if data.needs_fetch:  # the client's OperationOutcome no longer matters
                    data.issues.clear()
                read_values(result.resources, data, reader)
                data.issues.extend(result.issues)
                data.needs_fetch = False
                data.next_url = None
                continue
            if data.needs_fetch and spec.required:
                failed_required.append(f"prefetch key '{name}' ({spec.what}): {result.error}")
            elif data.needs_fetch:
                data.issues.extend(
                    [DataIssue("data", "missing", f"Could not read {spec.what}: {result.error}.")]
                )
            else:
                data.issues.extend(
                    [
                        DataIssue(
                            "data", "truncated", f"Only part of {spec.what} could be read: {result.error}."
                        )
                    ]
                )
            data.needs_fetch = False
            data.next_url = None
        if failed_required:
            raise PreconditionFailed(
                "Required data could not be obtained: " + "; ".join(failed_required) + "."
            )
