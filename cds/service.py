"""The patient-view pipeline: request -> prefetch/fetch -> selected resources -> profile -> cards.

Everything here is synchronous and free of HTTP framework types, so it is tested without a server and
the route only adapts it.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cds.errors import BadRequest, NotFound, PreconditionFailed
from cds.fhir.client import Fetcher, FetchResult
from cds.fhir.prefetch import (
    KeyData,
    PrefetchKey,
    chart_of,
    fill_template,
    prefetch_keys,
    read_prefetch,
)
from cds.fhir.select import select_resources, within_depth
from cds.fhir.split import SPLIT_ABOVE_BYTES, loads, split_request
from cds.fhir.wire import decode_request
from cds.hooks import HookRequest, PatientViewContext
from cds.pathway.engine import evaluate
from cds.pathway.knowledge import Knowledge
from cds.pathway.render import render_cards
from cds.profile.derive import MenopauseThresholds, build_profile
from cds.profile.model import DataIssue, Fact, PatientProfile
from cds.settings import Settings

HOOK = "patient-view"
M = TypeVar("M", bound=BaseModel)


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


def refuse_deep(value: Any, max_depth: int) -> None:
    """BadRequest when parsed JSON is nested deeper than ``max_depth``."""
    if not within_depth(value, max_depth):
        raise BadRequest(f"The request is nested more than {max_depth} levels deep.")


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


def parse_json(body: bytes, max_depth: int, *, deferred: str | None = None) -> Any:
    """Parse a JSON body and refuse nesting deeper than ``max_depth``.

    ``deferred`` names a top-level member whose depth is not checked here: the prefetch can hold
    thousands of resources, most of which the service never reads; the few it selects are checked
    one by one before validation (cds.fhir.select), so walking all of them here would be waste.
    """
    with collector_paused():  # parsed JSON holds no cycles: collecting while building it is waste
        data = loads(body)
    refuse_deep(
        {k: v for k, v in data.items() if k != deferred} if deferred and isinstance(data, dict) else data,
        max_depth,
    )
    return data


@dataclasses.dataclass(slots=True)
class PendingCall:
    request: HookRequest
    context: PatientViewContext
    keyed: dict[str, KeyData]
    deadline: float

    @property
    def needs_io(self) -> bool:
        return any(d.needs_fetch or d.next_url for d in self.keyed.values())


class PatientViewService:
    def __init__(
        self,
        settings: Settings,
        knowledge: Knowledge,
        fetcher: Fetcher,
        *,
        split_above_bytes: int = SPLIT_ABOVE_BYTES,
    ) -> None:
        self.settings = settings
        self.split_above_bytes = split_above_bytes  # a larger body is parsed a resource at a time
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

    def parse_request(self, body: bytes) -> tuple[HookRequest, PatientViewContext]:
        data = self._parse(body)
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.")
        request = validated(HookRequest, data)
        if request.hook != HOOK:
            raise BadRequest(
                f"This service answers the {HOOK} hook, not {request.hook!r}.", expression="hook"
            )
        context = validated(PatientViewContext, request.context, at="context")
        return request, context

    def _parse(self, body: bytes) -> Any:
        """The request's members. Its prefetch is decoded straight into read models when it is plain
        (cds.fhir.wire, any size: 10,000 resources in half the split path's time), else left unparsed
        when large (cds.fhir.split), else parsed JSON."""
        max_depth = self.settings.max_json_depth
        data: dict[str, Any] | None = None
        if self.settings.fhir_validation != "full":  # R4B validation reads dicts
            with collector_paused():  # read models are not tracked, but the lists holding them are
                data = decode_request(body)
        if data is None and len(body) > self.split_above_bytes:
            data = split_request(body)
        if data is None:
            return parse_json(body, max_depth, deferred="prefetch")
        refuse_deep({k: v for k, v in data.items() if k != "prefetch"}, max_depth)
        return data

    def prepare(self, body: bytes) -> PendingCall:
        """Parse and check the request and read its prefetch (no I/O)."""
        started = time.monotonic()
        request, context = self.parse_request(body)
        keyed = read_prefetch(request.prefetch, self.keys)
        return PendingCall(request, context, keyed, started + self.settings.hook_deadline_s)

    def fetch(self, call: PendingCall) -> None:
        """Fetch what the prefetch lacked (blocking network I/O: run it off the event loop)."""
        self._fetch_missing(call.request, call.context, call.keyed, deadline=call.deadline)

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
            chart_of(keyed),
            patient_id=patient_id,
            terminology=self.knowledge.terminology,
            full_validation=self.settings.fhir_validation == "full",
            max_depth=self.settings.max_json_depth,
        )
        issues = [i for data in keyed.values() for i in data.issues]  # after read_all: it adds some
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
            token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
            results = self.fetcher.fetch(
                server=request.fhirServer,
                access_token=token,
                queries=queries,
                continuations=continuations,
                deadline=deadline,
            )
        self._merge(keyed, results, specs)

    @staticmethod
    def _merge(
        keyed: dict[str, KeyData], results: Mapping[str, FetchResult], specs: Mapping[str, PrefetchKey]
    ) -> None:
        failed_required: list[str] = []
        for name, result in results.items():
            data = keyed[name]
            spec = specs[name]
            if result.error is None:
                if data.needs_fetch:  # the client's OperationOutcome no longer matters
                    data.issues = []
                data.resources.extend(result.resources)
                data.issues.extend(result.issues)
                data.needs_fetch = False
                data.next_url = None
                continue
            if data.needs_fetch and spec.required:
                failed_required.append(f"prefetch key '{name}' ({spec.what}): {result.error}")
            elif data.needs_fetch:
                data.issues.append(
                    DataIssue("data", "missing", f"Could not read {spec.what}: {result.error}.")
                )
            else:
                data.issues.append(
                    DataIssue("data", "truncated", f"Only part of {spec.what} could be read: {result.error}.")
                )
            data.needs_fetch = False
            data.next_url = None
        if failed_required:
            raise PreconditionFailed(
                "Required data could not be obtained: " + "; ".join(failed_required) + "."
            )
