"""The fetch path against a real FHIR server implementation: Medplum's FHIR router + in-memory repo.

The server (tests/servers/medplum/server.mjs) is started here on a loopback port; its npm packages are
installed by .ci/medplum.sh. Without them the tests skip, except under CI (CI=true), where they fail.
Medplum brings real search semantics (reference and token search, its own paging), so these tests
show the cards do not depend on how the data arrived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from cds.fhir.client import HttpFetcher
from cds.settings import Settings
from tests.fhir.helpers import (
    CASES_FOR_FETCH,
    PATIENT,
    TOKEN,
    AppFactory,
    call,
    card_keys,
    hook_request,
    prefetch_for,
    sample_resources,
)

pytestmark = pytest.mark.medplum

SERVER_DIR = Path(__file__).resolve().parents[1] / "servers" / "medplum"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Medplum FHIR server unavailable under CI: {reason}")
    pytest.skip(f"Medplum FHIR server unavailable: {reason} (run .ci/medplum.sh)")


class Medplum:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.base_url = f"{origin}/fhir/R4"
        self.http = requests.Session()

    def clear(self) -> None:
        self.http.post(f"{self.origin}/_test/clear", timeout=5).raise_for_status()

    def reset_log(self) -> None:
        self.http.post(f"{self.origin}/_test/reset", timeout=5).raise_for_status()

    def seen(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.origin}/_test/requests", timeout=5).json())

    def seed(self, resources: list[dict[str, Any]]) -> None:
        """Load resources with their ids kept (PUT in one transaction), then forget those requests."""
        self.clear()
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in resources
            ],
        }
        response = self.http.post(
            self.base_url + "/",
            json=bundle,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text[:500]
        statuses = [e["response"]["status"] for e in response.json()["entry"]]
        assert all(s.startswith("20") for s in statuses), statuses
        self.reset_log()


@pytest.fixture(scope="module")
def medplum() -> Iterator[Medplum]:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        _unavailable(f"{SERVER_DIR / 'node_modules'} is missing")
    assert node is not None
    major = int(
        subprocess.run([node, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
        .stdout[1:]
        .split(".")[0]
    )
    flags = ["--experimental-websocket"] if major < 22 else []
    env = {**os.environ, "MEDPLUM_TOKEN": TOKEN}
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own script
        [node, *flags, "server.mjs", "0"],
        cwd=SERVER_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("READY "):
                ready.append(line.split()[1])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not ready and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        pytest.fail("Medplum server did not start:\n" + "".join(lines[-30:]))
    server = Medplum(f"http://127.0.0.1:{ready[0]}")
    try:
        yield server
    finally:
        server.http.close()
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)  # it ends at EOF; then the pipe can be closed under it
        if proc.stdout is not None:
            proc.stdout.close()


def _fhir_gets(server: Medplum) -> list[dict[str, Any]]:
    return [r for r in server.seen() if r["method"] == "GET"]


@pytest.mark.parametrize(
    ("name", "patient", "resources"), CASES_FOR_FETCH, ids=[c[0] for c in CASES_FOR_FETCH]
)
def test_medplum_no_prefetch_gives_the_same_cards_as_full_prefetch(
    medplum: Medplum, make_client: AppFactory, name: str, patient: str, resources: list[dict[str, Any]]
) -> None:
    medplum.seed(resources)
    # Medications named by reference come with no template: the service reads them by id either way
    referenced = 1 if any(r["resourceType"] == "Medication" for r in resources) else 0
    prefetch = prefetch_for(resources)
    with make_client(medplum.base_url) as client:
        expected = call(
            client, hook_request(patient=patient, prefetch=prefetch, server=medplum.base_url, token=TOKEN)
        )
        got = call(client, hook_request(patient=patient, server=medplum.base_url, token=TOKEN))
    assert expected.status_code == 200, expected.text
    assert got.status_code == 200, got.text
    assert card_keys(got.json()) == card_keys(expected.json())
    gets = _fhir_gets(medplum)
    # one search per prefetch key, MedicationAdministration included, and the Medications by id
    assert len(gets) == 7 + 2 * referenced
    assert {g["authorization"] for g in gets} == {f"Bearer {TOKEN}"}


def test_medplum_partial_prefetch_queries_only_the_missing_keys(
    medplum: Medplum, make_client: AppFactory
) -> None:
    resources = sample_resources()
    medplum.seed(resources)
    full = prefetch_for(resources)
    partial = dict(full)
    del partial["conditions"]
    partial["observations"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    partial["procedures"] = None
    with make_client(medplum.base_url) as client:
        expected = call(client, hook_request(prefetch=full))
        got = call(client, hook_request(server=medplum.base_url, token=TOKEN, prefetch=partial))
    assert got.status_code == 200, got.text
    assert card_keys(got.json()) == card_keys(expected.json())
    assert card_keys(got.json())
    paths = sorted(g["url"].split("?")[0].rsplit("/", 1)[-1] for g in _fhir_gets(medplum))
    assert paths == ["Condition", "Observation"]


def test_medplum_refuses_a_wrong_token_and_the_hook_answers_412(
    medplum: Medplum, make_client: AppFactory
) -> None:
    medplum.seed(sample_resources())
    with make_client(medplum.base_url) as client:
        response = call(client, hook_request(server=medplum.base_url, token="not-the-token"))
    assert response.status_code == 412
    assert "refused access (HTTP 401)" in response.text
    assert "not-the-token" not in response.text


def test_medplum_paging_is_followed(medplum: Medplum) -> None:
    resources = sample_resources()
    extra = [
        {
            "resourceType": "Condition",
            "id": f"extra-{i}",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
            "subject": {"reference": f"Patient/{PATIENT}"},
        }
        for i in range(30)
    ]
    medplum.seed(resources + extra)  # 32 Conditions, 10 a page
    fetcher = HttpFetcher(Settings(auth="off", fhir_server_allowlist=medplum.base_url))
    try:
        result = fetcher.fetch(
            server=medplum.base_url,
            access_token=TOKEN,
            queries={"conditions": f"Condition?patient={PATIENT}&_count=10"},
            continuations={},
            deadline=time.monotonic() + 4,
        )["conditions"]
    finally:
        fetcher.close()
    assert result.error is None
    assert len({r["id"] for r in result.resources}) == 32
    assert len(_fhir_gets(medplum)) == 4
