"""One started app (real knowledge base, auth off) and the responses to every fixture scenario."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.pathway.knowledge import Knowledge, load_knowledge
from cds.settings import Settings, default_knowledge_dir
from tests.fixtures_support import FIXTURES_TODAY, Scenario, load_scenarios

SERVICE_PATH = "/cds-services/mbc-treatment-options"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(default_knowledge_dir())


@pytest.fixture(scope="session")
def knowledge_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir: Path = tmp_path_factory.mktemp("knowledge-data")
    settings = Settings(auth="off", data_dir=data_dir, public_base_url="http://testserver")
    with (
        pytest.MonkeyPatch.context() as patch,
        TestClient(create_app(settings), raise_server_exceptions=False) as client,
    ):  # the charts are read as of the day they are written for (FIXTURES_TODAY), not the day of the run
        service = client.app.state.service  # type: ignore[attr-defined]
        patch.setattr(service, "finish", functools.partial(service.finish, today=FIXTURES_TODAY))
        yield client


def post_scenario(client: TestClient, scenario: Scenario) -> Any:
    body = scenario.body
    request = scenario.request
    if request is not None:  # a fresh hookInstance per call, as a real EHR sends
        request["hookInstance"] = str(uuid.uuid4())
        body = orjson.dumps(request)
    return client.post(SERVICE_PATH, content=body, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="session")
def responses(knowledge_client: TestClient) -> dict[str, Any]:
    """Each scenario's response, sent once per session."""
    return {s.name: post_scenario(knowledge_client, s) for s in load_scenarios()}
