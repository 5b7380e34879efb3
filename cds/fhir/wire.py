"""A request decoded straight into read models, for the usual call (cds.fhir.models says why).

msgspec decodes the whole body in one pass: the request members into plain JSON values, and each
prefetch value into a ``Bundle`` of read models (or one read model), keeping only the elements the
profile reads. That costs less than parsing the body into dicts (the HTTP floor's whole work), and
nothing later walks the dicts it would have built.

Only the plainest requests come here: every resource one of the seven types the profile reads (or an
OperationOutcome), every declared element of the JSON type FHIR gives it, no unknown top-level member.
Anything else returns None, and the service parses the body into dicts instead (cds.service), which
answers it resource by resource: a malformed resource there is reported and skipped, never fatal. Both
ways give the same cards; tests/fhir/test_wire.py checks that on every fixture.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cds.fhir.models import (
    Condition,
    Medication,
    MedicationAdministration,
    MedicationRequest,
    MedicationStatement,
    Observation,
    Patient,
    Procedure,
)


class OperationOutcome(msgspec.Struct, frozen=True, gc=False, tag=True, tag_field="resourceType"):
    issue: Any = None  # read leniently (cds.fhir.prefetch): it only explains a failure


AnyResource = (
    Patient
    | Condition
    | Observation
    | MedicationRequest
    | MedicationStatement
    | MedicationAdministration
    | Procedure
    | Medication
    | OperationOutcome
)


class Search(msgspec.Struct, frozen=True, gc=False):
    mode: Any = None


class Entry(msgspec.Struct, frozen=True, gc=False):
    resource: AnyResource | None = None
    search: Search | None = None


class Bundle(msgspec.Struct, frozen=True, gc=False, tag=True, tag_field="resourceType"):
    entry: list[Entry] | None = None
    link: Any = None  # read as JSON (cds.fhir.prefetch finds the next page)


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """The CDS Hooks request members; all but the prefetch stay JSON for the usual checks."""

    hook: Any = msgspec.UNSET
    hookInstance: Any = msgspec.UNSET
    fhirServer: Any = msgspec.UNSET
    fhirAuthorization: Any = msgspec.UNSET
    context: Any = msgspec.UNSET
    prefetch: dict[str, Bundle | AnyResource | None] | msgspec.UnsetType | None = msgspec.UNSET
    extension: Any = msgspec.UNSET


_decoder = msgspec.json.Decoder(_Request)
_MEMBERS = _Request.__struct_fields__


def decode_request(body: bytes) -> dict[str, Any] | None:
    """The request's members (the prefetch's values as read models), or None when the body is not
    plain enough for this path."""
    try:
        request = _decoder.decode(body)
    except (ValueError, RecursionError):  # msgspec's errors, invalid UTF-8: the other path says which
        return None
    return {name: value for name in _MEMBERS if (value := getattr(request, name)) is not msgspec.UNSET}
