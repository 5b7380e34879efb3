"""`cds-mbc load-patient`: put one fixture patient on a FHIR R4 server, for the CDS Hooks Sandbox.

The Sandbox reads the patient's data itself, from the FHIR server named in its URL
(``fhirServiceUrl``), with the service's prefetch templates, and sends it to the service. Its default
server holds no one with metastatic breast cancer, so a user would see "All clear". This stores the
chart of a ``fhir_fixtures/`` scenario (its request's prefetch: the Patient and every Bundle entry) on a
server of the user's choice as one transaction of PUTs with the fixture's own ids (the references
between them stay valid, and loading again replaces the same resources), and prints the Sandbox link
that opens that patient with this service.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import yaml

from cds.fhir.request import outcome_texts
from cds.settings import default_fixtures_dir, scenario_folders

SANDBOX_URL = "https://sandbox.cds-hooks.org/"
TIMEOUT_S = 30.0
FHIR_JSON = "application/fhir+json"


class LoadError(Exception):
    """Why the patient could not be stored: one line for the user."""


@dataclass(frozen=True)
class FixturePatient:
    name: str
    description: str
    patient_id: str
    resources: tuple[dict[str, Any], ...]  # the Patient first, each Type/id once
    skipped: tuple[str, ...]  # resource types in the prefetch that are not patient data


def _description(folder: Path) -> tuple[str, int]:
    """expected.yaml's description (on one line) and the HTTP status the scenario expects."""
    path = folder / "expected.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(data, dict):
        return "", 200
    status = data.get("status", 200)
    return " ".join(str(data.get("description", "")).split()), status if isinstance(status, int) else 0


def read_fixture(folder: Path) -> FixturePatient | None:
    """The scenario's patient and chart, or None for a scenario whose request is deliberately bad (an
    expected refusal, malformed JSON, no Patient matching context.patientId)."""
    description, status = _description(folder)
    if status != 200:
        return None
    try:
        request = json.loads((folder / "request.json").read_bytes())
    except ValueError:
        return None
    context = request.get("context") if isinstance(request, dict) else None
    prefetch = request.get("prefetch") if isinstance(request, dict) else None
    patient_id = context.get("patientId") if isinstance(context, dict) else None
    if not isinstance(patient_id, str) or not isinstance(prefetch, dict):
        return None
    found: list[dict[str, Any]] = []
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            entries = [e for e in value.get("entry") or () if isinstance(e, dict)]
            found.extend(e["resource"] for e in entries if isinstance(e.get("resource"), dict))
        elif isinstance(value, dict):
            found.append(value)
    resources: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for resource in found:
        kind, rid = resource.get("resourceType"), resource.get("id")
        if kind == "OperationOutcome" or not isinstance(kind, str) or not isinstance(rid, str):
            skipped.append(str(kind))  # a failed prefetch's OperationOutcome is not patient data
            continue
        resources.setdefault(f"{kind}/{rid}", resource)
    patient = resources.pop(f"Patient/{patient_id}", None)
    if patient is None:
        return None
    return FixturePatient(
        folder.name, description, patient_id, (patient, *resources.values()), tuple(skipped)
    )


def fixture_patients(root: Path | None = None) -> list[FixturePatient]:
    """Every scenario under ``root`` (default: the bundled fhir_fixtures) whose patient can be loaded."""
    patients = (read_fixture(folder) for folder in scenario_folders(root or default_fixtures_dir()))
    return [p for p in patients if p is not None]


def transaction(resources: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """One FHIR transaction Bundle: a PUT ``Type/id`` of each resource (create or replace)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


def fhir_base(url: str) -> str:
    """The FHIR base URL without its trailing slash; LoadError unless a plain http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(
            f"--fhir-server must be an http(s) URL (e.g. https://hapi.fhir.org/baseR4), not {url!r}"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise LoadError("--fhir-server must be a FHIR base URL without user:password, query or fragment")
    return url.strip().rstrip("/")


def sandbox_link(fhir_server: str, patient_id: str, service_base_url: str) -> str:
    """The Sandbox URL that opens ``patient_id`` on ``fhir_server`` with the service discovered."""
    query = {
        "fhirServiceUrl": fhir_server,
        "patientId": patient_id,
        "serviceDiscoveryURL": f"{service_base_url.rstrip('/')}/cds-services",
    }
    return SANDBOX_URL + "?" + urlencode(query)


def _diagnostics(response: requests.Response) -> str:
    """The OperationOutcome's issues on one line, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        texts = outcome_texts(body.get("issue"))
        if texts:
            return "; ".join(texts)
    text = " ".join(response.text.split())
    return text[:300] + ("..." if len(text) > 300 else "") if text else "(no body)"


def _unreachable(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT_S:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error (certificate?)"
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return reason.group(1).strip().lower() if reason else type(exc).__name__


def store(fhir_server: str, patient: FixturePatient, *, timeout_s: float = TIMEOUT_S) -> list[str]:
    """POST the patient's transaction to ``fhir_server``; the status of each entry (e.g. "201 Created").

    LoadError when the server cannot be reached, refuses the transaction, or does not answer as FHIR."""
    try:
        response = requests.post(
            fhir_server,
            json=transaction(patient.resources),
            headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise LoadError(f"cannot reach {fhir_server}: {_unreachable(exc)}") from None
    if not response.ok:
        raise LoadError(
            f"{fhir_server} refused the transaction (HTTP {response.status_code}): {_diagnostics(response)}"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("type") != "transaction-response":
        raise LoadError(
            f"{fhir_server} answered HTTP {response.status_code} without a FHIR transaction-response "
            "Bundle: is it a FHIR R4 base URL?"
        )
    return [str((e.get("response") or {}).get("status", "")) for e in body.get("entry") or ()]


def _stored_counts(patient: FixturePatient) -> str:
    counts = Counter(str(r["resourceType"]) for r in patient.resources)
    return ", ".join(f"{kind} {n}" for kind, n in counts.items())


def _created_updated(statuses: list[str]) -> str:
    created = sum(s.startswith("201") for s in statuses)
    updated = sum(s.startswith("200") for s in statuses)
    return f"{created} created, {updated} updated" if created + updated == len(statuses) else ""


def list_fixtures(root: Path | None = None) -> str:
    lines = ["Fixture patients (cds-mbc load-patient NAME --fhir-server URL):"]
    for patient in fixture_patients(root):
        lines += [patient.name, f"    {patient.description}"]
    return "\n".join(lines)


def find_fixture(name: str, root: Path | None = None) -> FixturePatient:
    patients = {p.name: p for p in fixture_patients(root)}
    if name in patients:
        return patients[name]
    close = difflib.get_close_matches(name, list(patients), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise LoadError(f"no loadable fixture named {name!r} (cds-mbc load-patient --list lists them){hint}")


def load_patient(name: str, fhir_server: str, service_base_url: str) -> str:
    """Store fixture ``name`` on ``fhir_server``; what was stored and the Sandbox link, to print."""
    base = fhir_base(fhir_server)
    patient = find_fixture(name)
    statuses = store(base, patient)
    outcome = _created_updated(statuses)
    lines = [
        f"Stored fixture {patient.name} on {base} in one transaction: "
        f"{len(patient.resources)} resources" + (f" ({outcome})" if outcome else ""),
        f"  {_stored_counts(patient)}",
    ]
    if patient.skipped:
        lines.append(f"  not stored (not patient data): {', '.join(patient.skipped)}")
    lines += [
        f"Patient id: {patient.patient_id}",
        f"Open the CDS Hooks Sandbox on this patient, with the service running at {service_base_url}:",
        sandbox_link(base, patient.patient_id, service_base_url),
    ]
    return "\n".join(lines)
