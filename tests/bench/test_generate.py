"""Fast checks of the benchmark's synthetic patient generator (bench/generate.py)."""

from __future__ import annotations

import time

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from bench.generate import (
    PREFETCH_KEYS,
    SCALING_SIZES,
    count_resources,
    iter_requests,
    make_request,
    strip_private,
)
from cds.fhir.client import NoFetcher
from cds.fhir.prefetch import chart_of
from cds.fhir.select import select_resources
from cds.pathway.knowledge import load_knowledge
from cds.service import PatientViewService
from cds.settings import Settings

BUNDLE_KEYS = [k for k in PREFETCH_KEYS if k != "patient"]
SETTINGS = Settings(auth="off")


@pytest.fixture(scope="module")
def patients() -> list[dict]:
    return [make_request(i) for i in range(120)]


def test_request_shape(patients):
    for req in patients[:20]:
        assert req["hook"] == "patient-view"
        assert req["context"]["patientId"] == req["prefetch"]["patient"]["id"]
        assert req["context"]["userId"].startswith("Practitioner/")
        assert set(req["prefetch"]) == set(PREFETCH_KEYS)
        for key in BUNDLE_KEYS:
            bundle = req["prefetch"][key]
            assert bundle["resourceType"] == "Bundle"
            assert bundle["type"] == "searchset"
            assert bundle["total"] == len(bundle["entry"])
        patient = req["prefetch"]["patient"]
        assert patient["gender"] in ("female", "male")
        assert patient["birthDate"] < "2000-01-01"


def test_default_sizes_are_in_range_and_varied(patients):
    sizes = [count_resources(r) for r in patients]
    assert min(sizes) >= 60
    assert max(sizes) <= 150
    assert len(set(sizes)) > 30


@pytest.mark.parametrize("size", SCALING_SIZES)
def test_exact_sizes(size):
    req = make_request(3, size)
    assert count_resources(req) == size


def test_distinct_patients_and_hook_instances(patients):
    assert len({r["context"]["patientId"] for r in patients}) == len(patients)
    assert len({r["hookInstance"] for r in patients}) == len(patients)
    assert len({orjson.dumps(r["prefetch"]["observations"]) for r in patients}) == len(patients)


def test_deterministic():
    assert orjson.dumps(make_request(7)) == orjson.dumps(make_request(7))
    assert orjson.dumps(make_request(7, seed=1)) != orjson.dumps(make_request(7, seed=2))


def _codes(req: dict, key: str) -> set[tuple[str, str]]:
    out = set()
    for entry in req["prefetch"][key]["entry"]:
        res = entry["resource"]
        cc = res.get("code") or res.get("medicationCodeableConcept") or {}
        out.update((c["system"], c["code"]) for c in cc.get("coding", []))
    return out


def test_coding_variety(patients):
    cond = set().union(*(_codes(r, "conditions") for r in patients))
    obs = set().union(*(_codes(r, "observations") for r in patients))
    meds = set().union(
        *(_codes(r, "medicationRequests") | _codes(r, "medicationStatements") for r in patients)
    )
    sct, icd, loinc = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm", "http://loinc.org"
    rx = "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert {(sct, c) for c in ("254837009", "372137005", "353431000119107", "408643008")} <= cond
    assert {(sct, c) for c in ("94222008", "94381002", "94391008", "94225005", "128462008")} <= cond
    assert {(icd, c) for c in ("C79.51", "C78.7", "C78.00", "C79.31")} <= cond
    assert any(s == icd and c.startswith("C50.") for s, c in cond)
    assert {(icd, "I10"), (sct, "38341003")} & cond
    wanted_obs = [
        "21908-9",
        "85337-4",
        "40556-3",
        "16112-5",
        "85339-0",
        "40557-1",
        "85319-2",
        "18474-7",
        "85318-4",
        "69548-6",
        "2243-4",
        "15067-2",
        "718-7",
    ]
    assert {(loinc, c) for c in wanted_obs} <= obs
    assert {
        (rx, c)
        for c in ("84857", "72965", "10324", "282357", "1601374", "224905", "72962", "56946", "194000")
    } <= meds


def test_value_patterns(patients):
    blob = b"".join(orjson.dumps(r["prefetch"]["observations"]) for r in patients)
    for needle in (
        b'"10828004"',
        b'"260385009"',
        b'"LA6576-8"',
        b'"LA6577-6"',
        b'"POS"',
        b'"NEG"',
        b'"valueString":"2+"',
        b'"code":"%"',
        b'"HGNC:1100"',
        b'"HGNC:1101"',
        b'"48018-6"',
        b'"1222837003"',
        b'"258228008"',
        b'"http://cancerstaging.org"',
        b'"pg/mL"',
    ):
        assert needle in blob, needle


def test_resources_validate_with_r4b(patients):
    for req in [*patients[::12], make_request(1, 10), make_request(2, 1000)]:
        Patient.model_validate(req["prefetch"]["patient"])
        for key in BUNDLE_KEYS:
            Bundle.model_validate(req["prefetch"][key])


def test_fetch_variant_has_no_prefetch():
    req = make_request(5, prefetch=False, fhir_base="http://127.0.0.1:9999/fhir")
    wire = strip_private(req)
    assert "prefetch" not in wire
    assert wire["fhirServer"] == "http://127.0.0.1:9999/fhir"
    assert "access_token" in wire["fhirAuthorization"]
    assert count_resources(req) >= 60


def test_generator_is_fast():
    start = time.perf_counter()
    req = make_request(0, 10000)
    assert time.perf_counter() - start < 1.0
    assert count_resources(req) == 10000


def test_generated_charts_are_read_whole() -> None:
    """The generator codes charts the many ways real data is coded: every resource it makes decodes into
    the read models (cds.fhir.request) and passes their checks (cds.fhir.select); none is unreadable."""
    service = PatientViewService(SETTINGS, load_knowledge(SETTINGS.knowledge_dir), NoFetcher())
    for request in iter_requests(40, seed=7):
        pending = service.prepare(orjson.dumps(strip_private(request)))
        assert not pending.needs_io
        patient_id = pending.context.patientId
        selection = select_resources(
            chart_of(pending.keyed), patient_id=patient_id, terminology=service.knowledge.terminology
        )
        issues = [*(i for data in pending.keyed.values() for i in data.issues.list()), *selection.issues]
        assert not [i.message for i in issues if i.kind == "unreadable"], patient_id
        assert any(type(r).__name__ == "Observation" for r in selection.resources), patient_id
