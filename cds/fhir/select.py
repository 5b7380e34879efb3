"""Pick the resources the profile needs from the raw chart, then check only those.

Most of a chart (vitals, unrelated labs) never informs the pathway, so a cheap pre-filter comes first.
It reads raw resources: parsed JSON objects, or read models decoded straight from the request
(cds.fhir.wire). Each resource it keeps is read (a dict is converted to its read model, cds.fhir.models)
and its content checked (cds.fhir.check); with ``full`` validation a dict must also pass whole-resource
R4B validation (~70 us). A resource that fails either is reported, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cds.evidence import DataIssue, Evidence
from cds.fhir.check import FormatError, check
from cds.fhir.codes import Terminology, member, resource_type
from cds.fhir.models import MODELS, ChoiceError, Observation, Reference, Resource

PROFILE_TYPES = frozenset(MODELS)
_OBSERVATION: Final = Observation  # held here: compiled code reads it without a lookup by name
_SUBJECT_FIELDS = ("subject", "patient")


@dataclass(frozen=True, slots=True)
class Selection:
    resources: tuple[Any, ...]
    issues: tuple[DataIssue, ...]


def reference_of(resource: Any) -> str:
    return _reference(resource_type(resource), member(resource, "id"))


def _reference(rtype: str | None, rid: Any) -> str:
    return f"{rtype or '?'}/{rid if isinstance(rid, str) and rid else '?'}"


def _belongs_to(resource: Any, rtype: str, own: _Subject) -> bool:
    """False only when the resource (of type ``rtype``) names a different patient (ids compared on
    the last segment)."""
    if rtype == "Patient":
        rid = member(resource, "id")
        return rid is None or rid == own.patient_id
    if type(resource) is not dict:  # a read model: all but Patient's have a subject, none a patient
        subject: Reference | None = resource.subject
        return subject is None or own.named_by(subject.reference)
    for name in _SUBJECT_FIELDS:
        target = member(member(resource, name), "reference")
        if isinstance(target, str) and target:
            return own.named_by(target)
    return True


class _Subject:
    """The call's patient, as subject references name it: the last reference found to name the
    patient is remembered, as a chart's resources mostly repeat the same one."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.known = ""

    def named_by(self, reference: str | None) -> bool:
        """False when a subject reference names another patient."""
        if reference is None or reference == self.known:
            return True
        if _names(reference, self.patient_id):
            self.known = reference
            return True
        return False


def _names(reference: str | None, patient_id: str) -> bool:
    """False when a subject reference names another patient than ``patient_id``."""
    if not reference:
        return True
    ref = reference.rstrip("/") if reference.endswith("/") else reference
    if ref == patient_id:
        return True
    # the last segment is patient_id: a suffix after a "/" (no split: this runs for every resource)
    start = len(ref) - len(patient_id)
    return start > 0 and ref.endswith(patient_id) and ref[start - 1] == "/"


def _pydantic_error(exc: ValidationError) -> str:
    """R4B's first complaint (full validation), as ``path: message``."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid"))


def _msgspec_error(exc: msgspec.ValidationError) -> str:
    """msgspec's complaint as ``path: message`` (``$.code.coding[0].code`` -> ``code.coding.0.code``).
    Its messages name types and fields, never values, except for an invalid tag: not quoted."""
    message, _, at = str(exc).partition(" - at `")
    where = at.rstrip("`").removeprefix("$").lstrip(".").replace("[", ".").replace("]", "")
    message = "invalid value" if message.startswith("Invalid value") else message.replace("`", "")
    return f"{where}: {message}" if where else message


class TooDeep(ValueError):
    """Full validation refuses deep nesting before the R4B models recurse into it (Extension.extension...)."""


def read_resource(rtype: str, resource: Any, *, full: bool, max_depth: int) -> Resource:
    """The read model of ``resource``; ``full`` adds R4B validation. Raises ValueError when unusable."""
    if full and isinstance(resource, dict):
        if not within_depth(resource, max_depth):
            raise TooDeep(f"nested more than {max_depth} levels deep")
        get_fhir_model_class(rtype).model_validate(resource)
    return read(rtype, resource)


def read(rtype: str, resource: Any) -> Resource:
    """``resource`` (a dict, or already a read model, of a type in MODELS) as its checked read model.
    Raises msgspec's ValidationError, FormatError or ChoiceError when it cannot be read."""
    if isinstance(resource, Resource):
        model = resource
    else:
        contained = resource.get("contained")
        if isinstance(contained, list):  # only contained Medications are read (cds.fhir.models)
            medications = [
                c for c in contained if not isinstance(c, dict) or c.get("resourceType") == "Medication"
            ]
            resource = {**resource, "contained": medications}
        model = msgspec.convert(resource, MODELS[rtype])
    check(model)
    return model


def within_depth(value: Any, limit: int) -> bool:
    """False when parsed JSON is nested deeper than ``limit`` (iterative: deep input cannot exhaust
    the stack). Parsed JSON holds dicts and lists only: exact type checks, not the slower ABCs."""
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


def select_resources(
    raw: Iterable[Any],
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
    own = _Subject(patient_id)
    for resource in raw:
        if type(resource) is _OBSERVATION:  # most of a chart: a read model, its type known
            rtype = "Observation"
            subject: Reference | None = resource.subject
            belongs = subject is None or own.named_by(subject.reference)
        else:
            found = resource_type(resource)
            if found is None or found not in PROFILE_TYPES:
                continue  # other types (e.g. via _include) are not part of the profile
            rtype = found
            belongs = _belongs_to(resource, rtype, own)
        if not belongs:
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
            if rtype != "Observation" and terminology.is_medication_record(resource):
                other_medicines.append(
                    Evidence(reference_of(resource), None, "medication record, not a cancer medicine")
                )
            continue
        rid = member(resource, "id")
        ref = _reference(rtype, rid)
        if ref in seen and rid is not None:
            continue  # the same resource from two prefetch keys
        seen.add(ref)
        try:
            chosen.append(read_resource(rtype, resource, full=full_validation, max_depth=max_depth))
        except (msgspec.ValidationError, ValueError, TypeError, KeyError) as exc:
            if isinstance(exc, msgspec.ValidationError):
                detail = _msgspec_error(exc)
            elif isinstance(exc, ValidationError):  # pydantic's, a ValueError
                detail = _pydantic_error(exc)
            else:  # never the exception's text for others: it may quote the data
                detail = (
                    str(exc) if isinstance(exc, TooDeep | ChoiceError | FormatError) else type(exc).__name__
                )
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
