"""The hook call end to end (FastAPI app, real HTTP to a loopback stub FHIR server).

The same patient must get the same cards whether the data came by prefetch or by fetching; what cannot
be fetched gives a 412 (required data) or a card that says so (optional data); the token goes nowhere
else and shows up nowhere.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from tests.fhir.helpers import (
    CASES_FOR_FETCH,
    KEYS,
    PATIENT,
    TOKEN,
    AppFactory,
    call,
    card_keys,
    hook_request,
    prefetch_for,
    sample_resources,
    searchset,
)
from tests.servers.stub_fhir import Reply, StubFhir, running_stub

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}


@pytest.mark.parametrize(
    ("name", "patient", "resources"), CASES_FOR_FETCH, ids=[c[0] for c in CASES_FOR_FETCH]
)
def test_no_prefetch_gives_the_same_cards_as_full_prefetch(
    make_client: AppFactory, stub: StubFhir, name: str, patient: str, resources: list[dict[str, Any]]
) -> None:
    stub.load(resources)
    # Medications named by reference come with no template: the service reads them by id either way
    referenced = ["Medication"] if any(r["resourceType"] == "Medication" for r in resources) else []
    with make_client(stub.base_url) as client:
        prefetch = prefetch_for(resources)
        prefetched = call(client, hook_request(patient=patient, prefetch=prefetch, server=stub.base_url))
        assert prefetched.status_code == 200, prefetched.text
        assert stub.paths() == referenced  # nothing else missing: nothing else fetched
        stub.requests.clear()
        fetched = call(client, hook_request(patient=patient, server=stub.base_url, token=TOKEN))
    assert fetched.status_code == 200, fetched.text
    assert card_keys(fetched.json()) == card_keys(prefetched.json())
    if name == "sample":
        assert card_keys(fetched.json())  # the comparison is about something
    assert sorted(stub.paths()) == sorted(
        [
            f"Patient/{patient}",
            "Condition",
            "Observation",
            "MedicationRequest",
            "MedicationStatement",
            "MedicationAdministration",
            "Procedure",
            *referenced,
        ]
    )
    assert {s.authorization for s in stub.requests} == {f"Bearer {TOKEN}"}


def test_partial_prefetch_fetches_only_what_is_missing(make_client: AppFactory, stub: StubFhir) -> None:
    resources = sample_resources()
    stub.load(resources)
    full = prefetch_for(resources)
    partial = dict(full)
    del partial["patient"]  # absent: the client could not fetch it
    del partial["procedures"]
    partial["observations"] = OUTCOME  # the client's fetch failed
    partial["medicationStatements"] = None  # no data: must not be fetched
    with make_client(stub.base_url) as client:
        expected = call(client, hook_request(prefetch=full))
        got = call(client, hook_request(server=stub.base_url, token=TOKEN, prefetch=partial))
    assert got.status_code == 200, got.text
    assert card_keys(got.json()) == card_keys(expected.json())
    assert sorted(stub.paths()) == ["Observation", "Patient/" + PATIENT, "Procedure"]
    observation_query = next(s.path for s in stub.requests if s.resource_path == "Observation")
    assert f"patient={PATIENT}" in observation_query
    assert "code=" in observation_query  # the template's tokens filled in, its code filter kept


def _letrozole_by_reference() -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": "ms-letrozole",
        "status": "active",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationReference": {"reference": "Medication/letrozole-2-5"},
        "effectivePeriod": {"start": "2024-06-01"},
    }


LETROZOLE = {
    "resourceType": "Medication",
    "id": "letrozole-2-5",
    "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "72965"}]},
}


def test_a_medicine_named_only_by_reference_is_read_from_the_fhir_server(
    make_client: AppFactory, stub: StubFhir
) -> None:
    """Third-party round 5 (HL7 IPS): a medication record naming its medicine only by a reference to a
    Medication resource, which no prefetch template returns, was read as "not a cancer medicine". The
    service reads the Medication by id (one query for all of them) and the patient is on letrozole."""
    resources = [*sample_resources(), _letrozole_by_reference(), LETROZOLE]
    stub.load(resources)
    prefetch = prefetch_for(resources)
    with make_client(stub.base_url) as client:
        got = call(client, hook_request(server=stub.base_url, token=TOKEN, prefetch=prefetch))
    assert got.status_code == 200, got.text
    assert [s.path for s in stub.requests] == ["Medication?_id=letrozole-2-5"]
    groups = {c["source"]["topic"]["code"]: c for c in got.json()["cards"]}
    assert "at-progression" in groups and "options-now" not in groups
    assert "letrozole" in groups["at-progression"]["summary"]


def test_a_medication_the_fhir_server_cannot_give_is_reported_not_a_500(
    make_client: AppFactory, stub: StubFhir, caplog: pytest.LogCaptureFixture
) -> None:
    """The record stays unidentified and the card says prior therapy may be missing (a clinical
    statement, shown only where a stage 4 choice is made); why the read failed goes to the log."""
    resources = [*sample_resources(), _letrozole_by_reference()]
    stub.load(resources)
    stub.on("Medication", Reply(500, OUTCOME))
    with caplog.at_level(logging.WARNING), make_client(stub.base_url) as client:
        got = call(client, hook_request(server=stub.base_url, token=TOKEN, prefetch=prefetch_for(resources)))
    assert got.status_code == 200, got.text
    warnings = next(c for c in got.json()["cards"] if c["source"]["topic"]["code"] == "warnings")
    assert "prior cancer therapy may be missing" in warnings["detail"]
    assert "Medication/letrozole-2-5" in warnings["detail"]
    assert "Medications named by reference failed" in caplog.text and TOKEN not in caplog.text


def test_a_medication_reference_that_is_no_fhir_id_is_never_put_in_a_query(
    make_client: AppFactory, stub: StubFhir
) -> None:
    """A reference is request data: "Medication/x&_count=1000" must not add a parameter to a query sent
    with the clinician's token. It is not read, and the record stays unidentified."""
    record = _letrozole_by_reference()
    record["medicationReference"] = {"reference": "Medication/letrozole&_count=1000"}
    resources = [*sample_resources(), record]
    stub.load(resources)
    with make_client(stub.base_url) as client:
        got = call(client, hook_request(server=stub.base_url, token=TOKEN, prefetch=prefetch_for(resources)))
    assert got.status_code == 200, got.text
    assert stub.requests == []
    warnings = next(c for c in got.json()["cards"] if c["source"]["topic"]["code"] == "warnings")
    assert "prior cancer therapy may be missing" in warnings["detail"]


def test_no_token_means_no_authorization_header(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    with make_client(stub.base_url) as client:
        response = call(client, hook_request(server=stub.base_url))
    assert response.status_code == 200
    assert stub.requests and all(s.authorization is None for s in stub.requests)


def test_fetching_is_concurrent_through_the_hook(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    stub.delay_s = 0.1  # per query; six queries would take 600 ms one after another
    with make_client(stub.base_url) as client:
        call(client, hook_request(server=stub.base_url, token=TOKEN))  # warm-up (pool, app)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            response = call(client, hook_request(server=stub.base_url, token=TOKEN))
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
    best = min(timings)
    print(f"\nhook call, 6 queries x 100 ms: {', '.join(f'{t * 1000:.0f}' for t in timings)} ms (sum 600 ms)")
    assert best < 0.35


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(
                401,
                {"resourceType": "OperationOutcome", "issue": [{"diagnostics": f"token {TOKEN} expired"}]},
            ),
            "refused access (HTTP 401)",
        ),
        (Reply(403, b""), "refused access (HTTP 403)"),
        (Reply(500, b"boom", content_type="text/plain"), "failed (HTTP 500)"),
        (Reply(body=b"<html/>", content_type="text/html"), "not FHIR JSON"),
        (Reply(body=searchset([]), delay_s=1.0), "did not answer within 0.3 s"),
    ],
)
def test_required_data_unavailable_is_a_412_naming_key_and_reason(
    make_client: AppFactory,
    stub: StubFhir,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    reply: Reply,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.load(sample_resources())
    stub.on("Condition", reply)
    with make_client(stub.base_url, fhir_timeout_s=0.3) as client:
        response = call(client, hook_request(server=stub.base_url, token=TOKEN))
    assert response.status_code == 412
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    text = body["issue"][0]["diagnostics"]
    assert "prefetch key 'conditions'" in text
    assert reason in text
    assert TOKEN not in response.text
    assert "could not fetch prefetch key conditions" in caplog.text  # the logs were looked at
    assert TOKEN not in caplog.text
    assert TOKEN not in capfd.readouterr().err


def test_patient_not_found_is_a_412(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources()[1:])  # no Patient resource
    with make_client(stub.base_url) as client:
        response = call(client, hook_request(server=stub.base_url))
    assert response.status_code == 412
    assert "prefetch key 'patient'" in response.text
    assert "HTTP 404" in response.text


def test_server_down_is_a_412(make_client: AppFactory) -> None:
    down = "http://127.0.0.1:9/fhir"  # nothing listens on the discard port
    with make_client(down) as client:
        response = call(client, hook_request(server=down, token=TOKEN))
    assert response.status_code == 412
    assert "could not connect to the FHIR server" in response.text
    assert TOKEN not in response.text


def test_a_server_off_the_allowlist_is_a_412_and_never_contacted(
    make_client: AppFactory, stub: StubFhir
) -> None:
    stub.load(sample_resources())
    with running_stub() as listed, make_client(listed.base_url) as client:
        response = call(client, hook_request(server=stub.base_url, token=TOKEN))
    assert response.status_code == 412
    assert "not on this service's CDS_FHIR_SERVER_ALLOWLIST" in response.text
    assert stub.requests == []


def test_the_default_allowlist_fetches_nothing(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    with make_client("") as client:
        response = call(client, hook_request(server=stub.base_url, token=TOKEN))
    assert response.status_code == 412
    assert "CDS_FHIR_SERVER_ALLOWLIST" in response.text
    assert stub.requests == []


def test_optional_data_unavailable_gives_cards_that_say_so(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    stub.on("Procedure", Reply(500, b""))
    with make_client(stub.base_url) as client:
        response = call(client, hook_request(server=stub.base_url, token=TOKEN))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert cards
    assert any(
        "Could not read procedures" in c.get("detail", "") and "HTTP 500" in c["detail"] for c in cards
    )


def test_truncated_data_is_shown_on_a_card(make_client: AppFactory, stub: StubFhir) -> None:
    resources = sample_resources()
    extra = [
        {
            "resourceType": "Condition",
            "id": f"extra-{i}",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
            "subject": {"reference": f"Patient/{PATIENT}"},
        }
        for i in range(6)
    ]
    stub.load(resources + extra, page_size=2)
    with make_client(stub.base_url, fhir_max_pages=2) as client:
        response = call(client, hook_request(server=stub.base_url))
    assert response.status_code == 200, response.text
    assert any("first 2 pages" in c.get("detail", "") for c in response.json()["cards"])


def test_wrong_patient_resources_are_ignored_and_reported(make_client: AppFactory, stub: StubFhir) -> None:
    resources = sample_resources()
    stranger = dict(resources[1], id="stranger-bc", subject={"reference": "Patient/someone-else"})
    stub.load(resources)
    bundle = searchset([r for r in resources if r["resourceType"] == "Condition"] + [stranger])
    stub.on("Condition", Reply(body=bundle))
    with make_client(stub.base_url) as client:
        response = call(client, hook_request(server=stub.base_url))
    assert response.status_code == 200, response.text
    assert any(
        "Condition/stranger-bc belongs to a different patient" in c.get("detail", "")
        for c in response.json()["cards"]
    )


def test_non_r4_required_data_is_a_clear_412(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    dstu2 = {
        "resourceType": "Condition",
        "id": "old",
        "patient": {"reference": f"Patient/{PATIENT}"},
        "clinicalStatus": "active",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
    }
    stub.on("Condition", Reply(body=searchset([dstu2])))
    with make_client(stub.base_url) as client:
        response = call(client, hook_request(server=stub.base_url))
    assert response.status_code == 412
    assert "not FHIR R4" in response.text


def test_the_hook_deadline_bounds_the_call(make_client: AppFactory, stub: StubFhir) -> None:
    stub.load(sample_resources())
    stub.on("Observation", Reply(body=searchset([]), delay_s=3.0))
    with make_client(stub.base_url, hook_deadline_s=0.5, fhir_timeout_s=2.0) as client:
        started = time.perf_counter()
        response = call(client, hook_request(server=stub.base_url))
        elapsed = time.perf_counter() - started
    assert response.status_code == 412
    assert "prefetch key 'observations'" in response.text
    assert "deadline" in response.text
    assert elapsed < 1.0


def test_first_page_prefetched_rest_fetched(make_client: AppFactory, stub: StubFhir) -> None:
    resources = sample_resources()
    stub.load(resources)
    full = prefetch_for(resources)
    observations = full["observations"]["entry"]
    first = searchset([e["resource"] for e in observations[:1]])
    first["link"] = [{"relation": "next", "url": f"{stub.base_url}/Observation?page=2"}]
    stub.on("Observation?page=2", Reply(body=searchset([e["resource"] for e in observations[1:]])))
    partial = dict(full, observations=first)
    with make_client(stub.base_url) as client:
        expected = call(client, hook_request(prefetch=full))
        got = call(client, hook_request(server=stub.base_url, token=TOKEN, prefetch=partial))
    assert got.status_code == 200, got.text
    assert card_keys(got.json()) == card_keys(expected.json())
    assert [s.path for s in stub.requests] == ["Observation?page=2"]


def test_every_key_is_declared_in_discovery(make_client: AppFactory) -> None:
    with make_client("") as client:
        prefetch = client.get("/cds-services").json()["services"][0]["prefetch"]
    assert set(prefetch) == set(KEYS)
