"""Shared test fixtures: an app built from the real knowledge base with test settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings

BASE = "http://testserver"
SERVICE_PATH = "/cds-services/mbc-treatment-options"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth": "off", "data_dir": tmp_path, "public_base_url": BASE}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client_factory(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a started TestClient with settings overrides; closed at teardown."""
    opened: list[TestClient] = []

    def build(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(tmp_path, **overrides)), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory()


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def hook_request(patient_id: str = "p1", **changes: Any) -> dict[str, Any]:
    """A valid patient-view request with a complete (empty but present) prefetch."""
    request: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": patient_id,
                "gender": "female",
                "birthDate": "1960-01-01",
            },
            "conditions": bundle(),
            "observations": bundle(),
            "medicationRequests": bundle(),
            "medicationStatements": None,
            "medicationAdministrations": None,
            "procedures": None,
        },
    }
    request.update(changes)
    return request
