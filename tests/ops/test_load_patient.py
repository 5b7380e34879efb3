"""`cds-mbc load-patient`: a fixture patient on a FHIR server and the Sandbox link to it (issue 22).

The CDS Hooks Sandbox reads the patient from the FHIR server in its URL with the service's prefetch
templates; its default server holds no one with breast cancer, so a new user saw "All clear". These
tests load fixtures into a loopback stub FHIR server as the user would load them into a public one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.cli import main
from cds.settings import get_settings
from tests.fixtures_support import free_port, load_scenarios, make_settings, rule_ids
from tests.servers.stub_fhir import Reply, StubFhir, running_stub

DEFAULT = "hr-pos-her2-neg-postmenopausal-first-line"  # the README's suggestion
SERVICE = "http://localhost:8080"


@pytest.fixture
def stub() -> Iterator[StubFhir]:
    with running_stub() as server:
        yield server


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CDS_PUBLIC_BASE_URL", f"{SERVICE},http://127.0.0.1:8080")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def scenario_request(name: str) -> dict[str, Any]:
    [scenario] = [s for s in load_scenarios() if s.name == name]
    request = scenario.request
    assert request is not None
    return request


def chart(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The Patient and every Bundle entry of the request's prefetch, as the fixture holds them."""
    out: list[dict[str, Any]] = []
    for value in request["prefetch"].values():
        if isinstance(value, dict) and value["resourceType"] == "Bundle":
            out.extend(entry["resource"] for entry in value.get("entry", []))
        elif isinstance(value, dict):
            out.append(value)
    return out


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["load-patient", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_patient_goes_as_one_transaction_of_puts_and_the_sandbox_link_opens_it(
    stub: StubFhir, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, DEFAULT, "--fhir-server", stub.base_url + "/")
    assert (code, err) == (0, "")
    [post] = stub.requests
    assert (post.method, post.path) == ("POST", "")
    assert post.headers["Content-Type"] == "application/fhir+json"
    bundle = json.loads(post.body)
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "transaction")
    expected = chart(scenario_request(DEFAULT))
    assert [e["resource"] for e in bundle["entry"]] == expected  # the fixture's resources, unchanged
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    stored = {e["request"]["url"] for e in bundle["entry"]}
    assert set(references(bundle)) <= stored  # every reference names a resource loaded with it
    assert bundle["entry"][0]["resource"]["resourceType"] == "Patient"

    counts = Counter(r["resourceType"] for r in expected)
    assert ", ".join(f"{kind} {n}" for kind, n in counts.items()) in out
    assert f"{len(expected)} resources ({len(expected)} created, 0 updated)" in out
    assert "Patient id: mbc-001" in out.splitlines()
    link = out.splitlines()[-1]
    assert link == (
        "https://sandbox.cds-hooks.org/?fhirServiceUrl="
        + quote(stub.base_url, safe="")
        + "&patientId=mbc-001&serviceDiscoveryURL=http%3A%2F%2Flocalhost%3A8080%2Fcds-services"
    )
    query = parse_qs(urlsplit(link).query)
    assert query == {
        "fhirServiceUrl": [stub.base_url],
        "patientId": ["mbc-001"],
        "serviceDiscoveryURL": [f"{SERVICE}/cds-services"],
    }

    code, out, _ = run(capsys, DEFAULT, "--fhir-server", stub.base_url)  # again: the same resources
    assert code == 0 and f"(0 created, {len(expected)} updated)" in out
    assert len(stub.resources) == len(expected)


def test_the_loaded_patient_gets_the_fixture_cards_when_fetched_as_the_sandbox_fetches(
    stub: StubFhir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"load-patient {DEFAULT} --fhir-server" in readme  # the patient a new user is told to load
    assert run(capsys, DEFAULT, "--fhir-server", stub.base_url)[0] == 0
    [scenario] = [s for s in load_scenarios() if s.name == DEFAULT]
    with TestClient(create_app(make_settings(tmp_path))) as service:
        [definition] = service.get("/cds-services").json()["services"]
        prefetch = {}
        for key, template in definition["prefetch"].items():  # the Sandbox: GET each filled template
            url = f"{stub.base_url}/{template.replace('{{context.patientId}}', 'mbc-001')}"
            prefetch[key] = requests.get(url, timeout=5).json()
        request = scenario_request(DEFAULT) | {"prefetch": prefetch, "fhirServer": stub.base_url}
        answer = service.post(f"/cds-services/{definition['id']}", json=request)
    assert answer.status_code == 200
    assert set(scenario.must) <= set(rule_ids(answer.json()["cards"]))


def test_a_refused_transaction_exits_2_with_the_servers_diagnostics(
    stub: StubFhir, capsys: pytest.CaptureFixture[str]
) -> None:
    diagnostics = "HAPI-0825: Resource Practitioner/onc-1 not found, specified in path: Condition.asserter"
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "processing", "diagnostics": diagnostics}],
    }
    stub.on("", Reply(400, outcome))
    code, out, err = run(capsys, DEFAULT, "--fhir-server", stub.base_url)
    assert (code, out) == (2, "")
    assert err == f"cds-mbc load-patient: {stub.base_url} refused the transaction (HTTP 400): {diagnostics}\n"


def test_an_unreachable_server_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    server = f"http://127.0.0.1:{free_port()}/fhir"  # nothing listens there
    code, out, err = run(capsys, DEFAULT, "--fhir-server", server)
    assert (code, out) == (2, "")
    assert err.startswith(f"cds-mbc load-patient: cannot reach {server}: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_only_an_http_url_is_taken_for_the_fhir_server(
    stub: StubFhir, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("file:///etc/passwd", "ftp://example.org/fhir", stub.base_url.replace("http", "gopher")):
        code, _, err = run(capsys, DEFAULT, "--fhir-server", bad)
        assert code == 2 and "--fhir-server must be an http(s) URL" in err
    assert stub.requests == []


def test_list_names_every_loadable_fixture_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load-patient", "--list"]) == 0
    out = capsys.readouterr().out
    loadable = [s for s in load_scenarios() if s.status == 200]
    refused = [s for s in load_scenarios() if s.status != 200]
    assert loadable and refused
    for scenario in loadable:
        assert f"{scenario.name}\n    {' '.join(scenario.description.split())}\n" in out + "\n"
    for scenario in refused:  # deliberately bad requests are not patients to load
        assert scenario.name not in out.split()


class _ClosedPipe:
    """stdout whose reader has gone (`cds-mbc load-patient --list | head -1`), on a real descriptor."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("w")

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        return self.file.fileno()


def test_a_reader_that_stops_early_ends_the_listing_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipe = _ClosedPipe(tmp_path / "stdout")
    monkeypatch.setattr("sys.stdout", pipe)
    try:
        assert main(["load-patient", "--list"]) == 1  # no BrokenPipeError traceback
    finally:
        pipe.file.close()


def test_a_failed_prefetch_in_the_fixture_is_not_stored_as_patient_data(
    stub: StubFhir, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "data-incomplete-medication-statements-failed"  # medicationStatements is an OperationOutcome
    assert scenario_request(name)["prefetch"]["medicationStatements"]["resourceType"] == "OperationOutcome"
    code, out, _ = run(capsys, name, "--fhir-server", stub.base_url)
    assert code == 0
    kinds = [e["resource"]["resourceType"] for e in json.loads(stub.requests[0].body)["entry"]]
    assert "OperationOutcome" not in kinds and "Patient" in kinds
    assert "not stored (not patient data): OperationOutcome" in out
