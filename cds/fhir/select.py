"""Pick the resources the profile needs from raw JSON, then validate only those.

Most of a chart (vitals, unrelated labs) never informs the pathway, so a cheap pre-filter on the raw
JSON comes first. Each resource it keeps is read into the read models (cds.fhir.models: the elements the
profile reads, checked by a compiled schema, ~9 us a resource); with ``full`` validation it must also
pass whole-resource R4B validation (~70 us). A resource that fails either is reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds.fhir.codes import Terminology
from cds.fhir.models import CHOICES, COMPONENT_CHOICES, MODELS, ChoiceError, Resource
from cds.profile.model import DataIssue, Evidence

PROFILE_TYPES = frozenset(MODELS)
_SUBJECT_FIELDS = ("subject", "patient")


@dataclass(frozen=True, slots=True)
class Selection:
    resources: tuple[Any, ...]
    issues: tuple[DataIssue, ...]


def reference_of(resource: Mapping[str, Any]) -> str:
    rtype, rid = resource.get("resourceType"), resource.get("id")
    return f"{rtype if isinstance(rtype, str) else '?'}/{rid if isinstance(rid, str) and rid else '?'}"


def _belongs_to(resource: Mapping[str, Any], patient_id: str) -> bool:
    """False only when the resource names a different patient (ids compared on the last segment)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid is None or rid == patient_id
    for name in _SUBJECT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict):  # parsed JSON: dict, not the (slower to check) Mapping ABC
            target = ref.get("reference")
            if isinstance(target, str) and target:
                return target.rstrip("/").rsplit("/", 1)[-1] == patient_id
    return True


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = err.get("loc", ())
    where = ".".join(str(p) for p in loc)
    if loc and loc[-1] == "modifierExtension":
        return f"{where}: a modifierExtension this service does not understand"
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


class TooDeep(ValueError):
    """Full validation refuses deep nesting before the R4B models recurse into it (Extension.extension...)."""


def read_resource(rtype: str, resource: Mapping[str, Any], *, full: bool, max_depth: int) -> Any:
    """The read model of ``resource``; ``full`` adds R4B validation. Raises ValueError when unusable."""
    if full:
        if not within_depth(resource, max_depth):
            raise TooDeep(f"nested more than {max_depth} levels deep")
        get_fhir_model_class(rtype).model_validate(resource)
    return read(rtype, resource)


def read(rtype: str, resource: Mapping[str, Any]) -> Resource:
    """``resource`` (of a type in MODELS) as its read model. Raises ChoiceError or pydantic's
    ValidationError (both ValueErrors) when it cannot be read.

    The choice elements are checked here, in compiled code, on the raw JSON (cds.fhir.models says
    why); the model's validator is called directly (``model_validate`` only forwards to it, in Python).
    """
    _one_per_choice(resource, CHOICES[rtype], "")
    if rtype == "Observation":
        for i, component in enumerate(resource.get("component") or ()):
            if isinstance(component, dict):
                _one_per_choice(component, COMPONENT_CHOICES, f"component.{i}: ")
    model: Resource = MODELS[rtype].__pydantic_validator__.validate_python(resource)
    return model


def _one_per_choice(data: Mapping[str, Any], groups: Mapping[str, str], where: str) -> None:
    seen: set[str] = set()
    for key in data:
        group = groups.get(key)
        if group is not None:
            if group in seen:
                raise ChoiceError(f"{where}more than one {group}[x] element")
            seen.add(group)


def within_depth(value: Any, limit: int) -> bool:
    """False when JSON is nested deeper than ``limit`` (iterative: deep input cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, Mapping | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, Mapping | list))
    return True


def select_resources(
    raw: Iterable[Mapping[str, Any]],
    *,
    patient_id: str,
    terminology: Terminology,
    full_validation: bool = False,
    max_depth: int = 64,
) -> Selection:
    chosen: list[Any] = []
    issues: list[DataIssue] = []
    seen: set[str] = set()
    other_medicines: list[Evidence] = []  # medication records that are not cancer medicines
    for resource in raw:
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or rtype not in PROFILE_TYPES:
            continue  # other types (e.g. via _include) are not part of the profile
        if not _belongs_to(resource, patient_id):
            ref = reference_of(resource)
            issues.append(
                DataIssue(
                    "data",
                    "ignored",
                    f"{ref} belongs to a different patient and was ignored.",
                    (Evidence(ref, None, "subject is another patient"),),
                )
            )
            continue
        if rtype != "Patient" and not terminology.is_relevant(resource):
            if terminology.is_medication_record(resource):
                other_medicines.append(
                    Evidence(reference_of(resource), None, "medication record, not a cancer medicine")
                )
            continue
        ref = reference_of(resource)
        if ref in seen and resource.get("id") is not None:
            continue  # the same resource from two prefetch keys
        seen.add(ref)
        try:
            chosen.append(read_resource(rtype, resource, full=full_validation, max_depth=max_depth))
        except (ValueError, TypeError, KeyError) as exc:  # ValidationError is a ValueError
            if isinstance(exc, ValidationError):
                detail = _first_error(exc)
            else:  # never the exception's text for others: it may quote the data
                detail = str(exc) if isinstance(exc, TooDeep | ChoiceError) else type(exc).__name__
            issues.append(
                DataIssue(
                    "data",
                    "unreadable",
                    f"{ref} is not valid FHIR R4 and was not used ({detail}).",
                    (Evidence(ref, None, "failed FHIR R4 validation"),),
                )
            )
    if other_medicines:  # tells the profile medication data was sent, though none is cancer therapy
        issues.append(
            DataIssue(
                "medication_history",
                "ignored",
                f"{len(other_medicines)} medication record(s) that are not cancer medicines were not used.",
                tuple(other_medicines[:5]),
            )
        )
    return Selection(tuple(chosen), tuple(issues))
