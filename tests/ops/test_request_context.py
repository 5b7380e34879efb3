"""Through the whole app: the request id every answer carries, the latency histogram, the log context."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds import observability as obs
from tests.fixtures_support import SERVICE_PATH, hook_request

NEW_ID = re.compile(r"[0-9a-f]{32}")
TEMPLATE = "/cds-services/{service_id}"

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def client(client_factory: Callable[..., TestClient]) -> TestClient:
    return client_factory(max_body_bytes=4096)


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("unexpected")


def _break(client: TestClient, monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    monkeypatch.setattr(client.app.state.service, method, _boom)  # type: ignore[attr-defined]


def test_every_kind_of_answer_carries_a_new_request_id(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    preflight = {"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"}
    answers = {
        "call": client.post(SERVICE_PATH, json=hook_request()),
        "unknown path": client.get("/nowhere"),
        "too large": client.post(SERVICE_PATH, content=b" " * 5000, headers=JSON),
        "preflight": client.options(SERVICE_PATH, headers=preflight),  # answered by CORS itself
    }
    _break(client, monkeypatch, "discovery")
    answers["crash"] = client.get("/cds-services")
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {"call": 200, "unknown path": 404, "too large": 413, "preflight": 200, "crash": 500}
    ids = {response.headers["x-request-id"] for response in answers.values()}
    assert all(NEW_ID.fullmatch(request_id) for request_id in ids)
    assert len(ids) == len(answers)


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("abc-123_X.y", True), ("x" * 64, True), ("x" * 65, False), ("a b", False), ("a;b", False), ("", False)],
)
def test_a_plain_short_request_id_is_echoed_anything_else_replaced(
    client: TestClient, sent: str, kept: bool
) -> None:
    answered = client.get("/cds-services", headers={"X-Request-Id": sent}).headers["x-request-id"]
    if kept:
        assert answered == sent
    else:
        assert NEW_ID.fullmatch(answered)


def _count(endpoint: str, status: int) -> float:
    labels = {"endpoint": endpoint, "status": str(status)}
    return obs.METRICS.registry.get_sample_value("cds_http_request_duration_seconds_count", labels) or 0.0


def test_the_latency_histogram_counts_answers_by_route_template_and_status(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [
        (TEMPLATE, 200),
        (TEMPLATE, 404),  # an unknown service id, answered by the route
        ("(unmatched)", 404),
        ("(unmatched)", 413),  # refused by its Content-Length before routing
        ("/cds-services", 500),
    ]
    before = [_count(*labels) for labels in expected]
    client.post(SERVICE_PATH, json=hook_request())
    client.post("/cds-services/unknown", json=hook_request())
    client.get("/nowhere")
    client.post(SERVICE_PATH, content=b" " * 5000, headers=JSON)
    _break(client, monkeypatch, "discovery")
    client.get("/cds-services")
    assert [_count(*labels) for labels in expected] == [n + 1 for n in before]


def test_the_log_lines_of_a_request_carry_its_request_id_and_hook_instance(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(client, monkeypatch, "finish")
    request = hook_request()
    capsys.readouterr()
    response = client.post(SERVICE_PATH, json=request, headers={"X-Request-Id": "req-7"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-7"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [error] = [line for line in lines if str(line["msg"]).startswith("unhandled error")]
    assert error["request_id"] == "req-7"
    assert error["hook_instance"] == request["hookInstance"]
