"""Resources in an older FHIR shape than R4 (DSTU2, STU3), read where their meaning is unambiguous.

The CDS Hooks Sandbox's default FHIR servers still serve some; cds.fhir.request names what cannot be
read this way as not FHIR R4.
"""

from __future__ import annotations

from typing import Any

from cds.fhir.models import MODELS

READ_TYPE_NAMES = frozenset(MODELS)

_STATUS_SYSTEMS = {
    "clinicalStatus": "http://terminology.hl7.org/CodeSystem/condition-clinical",
    "verificationStatus": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
}
# DSTU2/STU3 codes whose R4 code differs (the rest are R4 codes already)
_STATUS_CODES = {"unknown": "unconfirmed"}
_OLD_TYPES = {"MedicationOrder": "MedicationRequest"}  # DSTU2 -> R4


def older(value: dict[str, Any]) -> bool:
    """True when a resource shows a sign of an older FHIR version than R4."""
    return (
        (isinstance(value.get("resourceType"), str) and value["resourceType"] in _OLD_TYPES)
        or (value.get("resourceType") != "Patient" and "patient" in value)
        or any(isinstance(value.get(name), str) for name in _STATUS_SYSTEMS)
    )


def upgrade(value: dict[str, Any]) -> dict[str, Any] | None:
    """A resource the profile reads, in R4's shape where an older version's meaning is unambiguous
    (``value`` itself when nothing changes); None for a type the profile does not read.

    - DSTU2/STU3 Condition: ``clinicalStatus``/``verificationStatus`` as plain codes become R4's
      CodeableConcepts; DSTU2 ``dateRecorded``/STU3 ``assertedDate`` is R4's ``recordedDate``.
    - DSTU2 ``patient`` is R4's ``subject`` (Condition, MedicationOrder, MedicationStatement).
    - DSTU2 MedicationOrder is read as a MedicationRequest (an order): ``dateWritten`` is
      ``authoredOn``, ``reasonCodeableConcept`` a ``reasonCode``.
    - DSTU2 MedicationStatement ``wasNotTaken: true`` is R4's status ``not-taken``.
    - Contained resources other than Medications are dropped (only those are read, cds.fhir.models).
    """
    rtype = value.get("resourceType")
    if not isinstance(rtype, str):
        return None
    rtype = _OLD_TYPES.get(rtype, rtype)
    if rtype not in READ_TYPE_NAMES:
        return None
    changes: dict[str, Any] = {}
    if rtype != value["resourceType"]:
        changes["resourceType"] = rtype
    if rtype == "MedicationRequest" and value["resourceType"] == "MedicationOrder":
        changes["intent"] = "order"
        for old, new in (("dateWritten", "authoredOn"), ("reasonCodeableConcept", "reasonCode")):
            if old in value and new not in value:
                changes[new] = [value[old]] if new == "reasonCode" else value[old]
    if rtype != "Patient" and "patient" in value and "subject" not in value:
        changes["subject"] = value["patient"]
    if rtype == "Condition":
        for name, system in _STATUS_SYSTEMS.items():
            status = value.get(name)
            if isinstance(status, str):
                code = _STATUS_CODES.get(status, status)
                changes[name] = {"coding": [{"system": system, "code": code}]}
        for old in ("dateRecorded", "assertedDate"):
            if old in value and "recordedDate" not in value:
                changes["recordedDate"] = value[old]
    if rtype == "MedicationStatement" and value.get("wasNotTaken") is True:
        changes["status"] = "not-taken"
    contained = value.get("contained")
    if isinstance(contained, list):
        changes["contained"] = [
            c for c in contained if not isinstance(c, dict) or c.get("resourceType") == "Medication"
        ]
    if not changes:
        return value
    drop = {"patient", "dateWritten", "reasonCodeableConcept", "dateRecorded", "assertedDate", "wasNotTaken"}
    kept = {k: v for k, v in value.items() if k not in drop or rtype == "Patient"}
    return {**kept, **changes}
