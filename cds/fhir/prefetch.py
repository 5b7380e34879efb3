"""Prefetch templates and the CDS Hooks decision table for what a client sent in each key.

| prefetch[key]           | meaning                                                      |
|-------------------------|--------------------------------------------------------------|
| resource or Bundle      | use it (a Bundle with a ``next`` link is only a first page)  |
| ``null``                | no data: treat as empty, do not fetch                        |
| OperationOutcome        | the client's fetch failed: fetch it ourselves if we can      |
| absent                  | not prefetched: fetch it ourselves if we can                 |

Each value is read by cds.fhir.request (``read_key_value``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import msgspec

from cds.fhir.models import Resource
from cds.fhir.request import KeyData, Reader, read_key_value


@dataclass(frozen=True, slots=True)
class PrefetchKey:
    name: str
    template: str
    required: bool  # without it no card can be trusted: 412 when it cannot be had
    what: str  # how the data reads to a clinician ("the patient's conditions")

    @property
    def resource_type(self) -> str:
        """The type the template reads (``Condition`` for ``Condition?patient=...``)."""
        return re.split(r"[/?]", self.template, maxsplit=1)[0]


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
            "medicationAdministrations",
            "MedicationAdministration?patient={{context.patientId}}",
            False,
            "medication administrations (chemotherapy given in clinic)",
        ),
        PrefetchKey(
            "procedures",
            "Procedure?patient={{context.patientId}}",
            False,
            "procedures (oophorectomy, breast surgery)",
        ),
    )


_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace ``{{context.x}}`` tokens with the (already validated) context values."""
    return _TOKEN.sub(lambda m: str(context.get(m.group(1), "")), template)


def read_prefetch(
    prefetch: Mapping[str, msgspec.Raw] | None, keys: Sequence[PrefetchKey], reader: Reader
) -> dict[str, KeyData]:
    """Apply the decision table to every key the service declares (other keys are not read)."""
    sent = prefetch or {}
    out: dict[str, KeyData] = {}
    for spec in keys:
        if spec.name in sent:
            out[spec.name] = read_key_value(sent[spec.name], spec.name, reader)
        else:
            out[spec.name] = KeyData(spec.name, needs_fetch=True)
    return out


def chart_of(keyed: Mapping[str, KeyData]) -> Iterator[Resource]:
    """Every resource of every key, in order."""
    return chain.from_iterable([data.resources for data in keyed.values()])
