"""Fixtures for the fetch tests: the loopback stub FHIR server, apps under test, hook requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.settings import Settings
from tests.fhir.helpers import AppFactory
from tests.servers.stub_fhir import StubFhir, running_stub


@pytest.fixture
def stub() -> Iterator[StubFhir]:
    with running_stub() as server:
        yield server


@pytest.fixture
def make_client(tmp_path: Path) -> AppFactory:
    """``with make_client(allowlist=..., **settings) as client:`` an app on a fresh data dir."""
    counter = iter(range(1000))

    @contextmanager
    def factory(allowlist: str, **overrides: Any) -> Iterator[TestClient]:
        data_dir = tmp_path / f"app{next(counter)}"
        data_dir.mkdir()
        settings = Settings(auth="off", data_dir=data_dir, fhir_server_allowlist=allowlist, **overrides)
        with TestClient(create_app(settings)) as client:
            yield client

    return factory
