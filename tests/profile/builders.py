"""Small, realistic, R4B-valid resources for the profile tests (validated with fhir.resources)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from cds.evidence import DataIssue
from cds.fhir.check import check
from cds.fhir.models import Resource
from cds.fhir.request import KeyData, Reader, read_value, read_values

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
AJCC = "http://cancerstaging.org"
UICC = "https://www.uicc.org/resources/tnm"
HGNC = "http://www.genenames.org/geneId"
V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
WRONG_INTERP = "http://hl7.org/fhir/ValueSet/observation-interpretation"
PATIENT = "p1"

_counter = {"n": 0}


def _id(prefix: str) -> str:
    _counter["n"] += 1
    return f"{prefix}-{_counter['n']}"


def cc(
    system: str | None = None, code: str | None = None, display: str | None = None, text: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if code is not None:
        coding: dict[str, Any] = {"code": code}
        if system:
            coding["system"] = system
        if display:
            coding["display"] = display
        out["coding"] = [coding]
    if text:
        out["text"] = text
    return out


def read_model(raw: dict[str, Any]) -> Resource | None:
    """``raw`` read as the service reads a resource it was sent (cds.fhir.request): its read model, or
    None for a type the profile does not read or a resource that cannot be read."""
    return read_value(raw, KeyData("test"), 0, Reader(), outcome=False)


def read_chart(raw: Iterable[Any]) -> tuple[list[Resource], list[DataIssue]]:
    """Parsed JSON resources read as the service reads a prefetch key: the read models, and the issues
    for those it could not read."""
    data = KeyData("chart")
    read_values(raw, data, Reader())
    return data.resources, data.issues.list()


def read(rtype: str, raw: dict[str, Any]) -> Any:
    """``raw`` as a resource of ``rtype``, read and content-checked as the profile receives it; raises
    ValueError (msgspec's, or a content rule's) when it cannot be read."""
    data = KeyData("test")
    resource = read_value({**raw, "resourceType": rtype}, data, 0, Reader(), outcome=False)
    if resource is None:
        raise ValueError("; ".join(i.message for i in data.issues.list()) or "not a resource")
    check(resource)
    return resource


def model(raw: dict[str, Any]) -> Any:
    """What the profile receives for ``raw``: its read model (after checking that R4B accepts it too)."""
    get_fhir_model_class(raw["resourceType"]).model_validate(raw)
    return read(raw["resourceType"], raw)


def patient(
    birth: str | None = "1960-05-01", gender: str | None = "female", pid: str = PATIENT
) -> dict[str, Any]:
    raw: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if birth:
        raw["birthDate"] = birth
    if gender:
        raw["gender"] = gender
    return raw


def condition(
    code: dict[str, Any],
    *,
    onset: str | None = "2023-01-10",
    recorded: str | None = None,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    body_site: dict[str, Any] | None = None,
    stage_summary: dict[str, Any] | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid or _id("cond"),
        "subject": {"reference": f"Patient/{PATIENT}"},
        "code": code,
    }
    if clinical:
        raw["clinicalStatus"] = cc("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
    if verification:
        raw["verificationStatus"] = cc(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification
        )
    if onset:
        raw["onsetDateTime"] = onset
    if recorded:
        raw["recordedDate"] = recorded
    if body_site:
        raw["bodySite"] = [body_site]
    if stage_summary:
        raw["stage"] = [{"summary": stage_summary}]
    return raw


def observation(
    code: dict[str, Any],
    *,
    date: str | None = "2023-01-15",
    status: str = "final",
    value: dict[str, Any] | None = None,
    value_string: str | None = None,
    quantity: tuple[float, str] | None = None,
    comparator: str | None = None,
    boolean: bool | None = None,
    interpretation: dict[str, Any] | None = None,
    components: list[dict[str, Any]] | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid or _id("obs"),
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "code": code,
    }
    if date:
        raw["effectiveDateTime"] = date
    if value is not None:
        raw["valueCodeableConcept"] = value
    if value_string is not None:
        raw["valueString"] = value_string
    if quantity is not None:
        q: dict[str, Any] = {"value": quantity[0]}
        if quantity[1]:
            q["unit"] = quantity[1]
            q["system"] = "http://unitsofmeasure.org"
            q["code"] = quantity[1]
        if comparator:
            q["comparator"] = comparator
        raw["valueQuantity"] = q
    if boolean is not None:
        raw["valueBoolean"] = boolean
    if interpretation is not None:
        raw["interpretation"] = [interpretation]
    if components:
        raw["component"] = components
    return raw


def component(
    code: dict[str, Any],
    *,
    value: dict[str, Any] | None = None,
    quantity: tuple[float, str] | None = None,
    value_string: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {"code": code}
    if value is not None:
        raw["valueCodeableConcept"] = value
    if quantity is not None:
        raw["valueQuantity"] = {
            "value": quantity[0],
            "unit": quantity[1],
            "system": "http://unitsofmeasure.org",
            "code": quantity[1],
        }
    if value_string is not None:
        raw["valueString"] = value_string
    return raw


def med_request(
    medication: dict[str, Any] | None = None,
    *,
    authored: str | None = "2023-02-01",
    status: str = "active",
    intent: str = "order",
    bounds: tuple[str | None, str | None] | None = None,
    reason_code: dict[str, Any] | None = None,
    reason_ref: str | None = None,
    intent_ext: dict[str, Any] | None = None,
    reference: dict[str, Any] | None = None,
    contained: list[dict[str, Any]] | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid or _id("mr"),
        "status": status,
        "intent": intent,
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    if medication is not None:
        raw["medicationCodeableConcept"] = medication
    if reference is not None:
        raw["medicationReference"] = reference
    if contained:
        raw["contained"] = contained
    if authored:
        raw["authoredOn"] = authored
    if bounds:
        period = {k: v for k, v in (("start", bounds[0]), ("end", bounds[1])) if v}
        raw["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": period}}}]
    if reason_code:
        raw["reasonCode"] = [reason_code]
    if reason_ref:
        raw["reasonReference"] = [{"reference": reason_ref}]
    if intent_ext:
        raw["extension"] = [
            {
                "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-treatment-intent",
                "valueCodeableConcept": intent_ext,
            }
        ]
    return raw


def med_statement(
    medication: dict[str, Any],
    *,
    start: str | None = "2023-02-01",
    end: str | None = None,
    status: str = "active",
    rid: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": rid or _id("ms"),
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": medication,
    }
    if start or end:
        raw["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return raw


def med_admin(
    medication: dict[str, Any], *, when: str = "2023-02-01", status: str = "completed", rid: str | None = None
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid or _id("ma"),
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": medication,
        "effectiveDateTime": when,
    }


def procedure(
    code: dict[str, Any],
    *,
    when: str | None = "2015-06-01",
    status: str = "completed",
    rid: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": rid or _id("proc"),
        "status": status,
        "subject": {"reference": f"Patient/{PATIENT}"},
        "code": code,
    }
    if when:
        raw["performedDateTime"] = when
    return raw


# --- common clinical building blocks ------------------------------------------------------------------


def breast_cancer(**kw: Any) -> dict[str, Any]:
    return condition(cc(SNOMED, "254837009", "Malignant neoplasm of breast (disorder)"), **kw)


def er(value: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return observation(
        cc(LOINC, "85337-4", "Estrogen receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
        value=value,
        **kw,
    )


def pr(value: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return observation(
        cc(LOINC, "85339-0", "Progesterone receptor Ag [Presence] in Breast cancer specimen by Immune stain"),
        value=value,
        **kw,
    )


def her2_ihc(value: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return observation(
        cc(LOINC, "85319-2", "HER2 [Presence] in Breast cancer specimen by Immune stain"), value=value, **kw
    )


def her2_ish(value: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return observation(
        cc(LOINC, "85318-4", "ERBB2 gene duplication [Presence] in Breast cancer specimen by FISH"),
        value=value,
        **kw,
    )


POSITIVE = cc(SNOMED, "10828004", "Positive (qualifier value)")
NEGATIVE = cc(SNOMED, "260385009", "Negative (qualifier value)")
LA_POSITIVE = cc(LOINC, "LA6576-8", "Positive")
LA_NEGATIVE = cc(LOINC, "LA6577-6", "Negative")


def rx(code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    return cc(RXNORM, code, display, text)


ISH_PANEL = cc(LOINC, "74885-5", "ERBB2 FISH panel")
ISH_RATIO = cc(LOINC, "49683-6", "ERBB2/Chr17 ratio by FISH")
ISH_COPIES = cc(LOINC, "74860-8", "ERBB2 copies per nucleus by FISH")


def ish_panel(ratio: float, copies: float, **kw: Any) -> dict[str, Any]:
    """A dual-probe HER2 FISH panel: the HER2/CEP17 ratio and the HER2 copies per nucleus as components."""
    return observation(
        ISH_PANEL,
        components=[
            component(ISH_RATIO, quantity=(ratio, "{ratio}")),
            component(ISH_COPIES, quantity=(copies, "{copies}/{nucleus}")),
        ],
        **kw,
    )


def issues_of(profile: Any, topic: str, kind: str) -> list[DataIssue]:
    return [i for i in profile.issues if i.topic == topic and i.kind == kind]


CODES = Path(__file__).resolve().parents[2] / "cards" / "codes"


TODAY = date(2025, 6, 1)
