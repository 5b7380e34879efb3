from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI

from cds.api.ops import router
from cds.observability import count_cards
from cds.store import FeedbackStore


class FakeStore:
    def __init__(self, up: bool) -> None:
        self.up = up
        self.pings = 0

    def ping(self) -> bool:
        self.pings += 1
        return self.up


def make_app(knowledge: Any, store: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.knowledge = knowledge
    app.state.store = store
    return app


def get(app: FastAPI, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_healthz_is_ok_even_when_not_ready() -> None:
    response = get(make_app(None, FakeStore(up=False)), "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_with_knowledge_and_a_real_store(tmp_path: Path) -> None:
    store = FeedbackStore(f"sqlite:///{tmp_path / 'f.db'}")
    store.migrate()
    try:
        response = get(make_app(object(), store), "/readyz")
    finally:
        store.close()
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("knowledge", "store", "expected"),
    [
        (None, FakeStore(up=True), "knowledge base not loaded"),
        (object(), FakeStore(up=False), "feedback store unreachable"),
        (object(), None, "feedback store not configured"),
        (None, FakeStore(up=False), "knowledge base not loaded; feedback store unreachable"),
    ],
)
def test_not_ready_is_503_with_an_operation_outcome(knowledge: Any, store: Any, expected: str) -> None:
    response = get(make_app(knowledge, store), "/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["code"] == "transient"
    assert body["issue"][0]["diagnostics"] == expected


def test_readyz_really_pings_the_store_each_time() -> None:
    store = FakeStore(up=True)
    app = make_app(object(), store)
    assert get(app, "/readyz").status_code == 200
    store.up = False
    assert get(app, "/readyz").status_code == 503
    assert store.pings == 2


def test_ready_when_the_database_is_unreachable_is_503() -> None:
    store = FeedbackStore("postgresql+psycopg://u:p@127.0.0.1:1/none?connect_timeout=2")
    try:
        assert get(make_app(object(), store), "/readyz").status_code == 503
    finally:
        store.close()


def test_metrics_are_prometheus_text() -> None:
    count_cards(["rule-from-ops-test"])
    response = get(make_app(object(), FakeStore(up=True)), "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert "# TYPE cds_http_request_duration_seconds histogram" in text
    assert "# TYPE cds_fhir_fetch_duration_seconds histogram" in text
    assert "# TYPE cds_fhir_fetch_failures_total counter" in text
    assert "# TYPE cds_feedback_outcomes_total counter" in text
    assert 'cds_cards_returned_total{rule_id="rule-from-ops-test"}' in text


def test_metrics_route_is_not_in_the_openapi_schema() -> None:
    schema = make_app(None, None).openapi()
    assert "/metrics" not in schema["paths"]
    assert {"/healthz", "/readyz"} <= set(schema["paths"])
