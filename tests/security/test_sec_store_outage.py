"""Issue 23, finding 7: feedback during a database outage got 500 "Internal error" (it is a 503 with
Retry-After), and with the database frozen /readyz hung ~10 s instead of answering 503 quickly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.pathway.ids import card_uuid
from cds.store import FeedbackRecord, FeedbackStore, StoreUnavailable
from tests.fixtures_support import make_settings
from tests.servers.hostile import closed_port, silent_server

FEEDBACK_PATH = "/cds-services/mbc-treatment-options/feedback"
FEEDBACK = {
    "feedback": [
        {
            "card": card_uuid("hr-pos-postmenopausal-ai-cdk46"),
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-20T10:00:00Z",
        }
    ]
}
RECORD = FeedbackRecord(
    service_id="mbc-treatment-options",
    rule_id=None,
    card_uuid="c",
    outcome="accepted",
    accepted_suggestions=(),
    override_code=None,
    override_system=None,
    override_display=None,
    user_comment=None,
    outcome_timestamp=datetime(2026, 11, 20, tzinfo=UTC),
)


def _postgres(hostport: str) -> str:
    return f"postgresql+psycopg://cds:not-the-password@{hostport}/cds?connect_timeout=1"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path)), raise_server_exceptions=False) as test_client:
        yield test_client


def _swap_store(client: TestClient, url: str) -> None:
    app = client.app
    app.state.store.close()  # type: ignore[attr-defined]
    app.state.store = FeedbackStore(url)  # type: ignore[attr-defined]


def test_a_database_that_is_down_gives_store_unavailable_not_a_driver_error() -> None:
    store = FeedbackStore(_postgres(f"127.0.0.1:{closed_port()}"))
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.add([RECORD])
        assert caught.value.status_code == 503
        with pytest.raises(StoreUnavailable):
            store.add_shown({"rule": 1})
        with pytest.raises(StoreUnavailable):
            store.report()
    finally:
        store.close()


def test_feedback_during_a_database_outage_is_a_503(client: TestClient) -> None:
    _swap_store(client, _postgres(f"127.0.0.1:{closed_port()}"))
    response = client.post(FEEDBACK_PATH, json=FEEDBACK)
    assert response.status_code == 503
    assert response.json()["issue"][0]["code"] == "transient"
    assert "password" not in response.text


def test_feedback_during_a_database_outage_says_when_to_retry(client: TestClient) -> None:
    _swap_store(client, _postgres(f"127.0.0.1:{closed_port()}"))
    response = client.post(FEEDBACK_PATH, json=FEEDBACK)
    assert response.headers.get("Retry-After") == str(StoreUnavailable.retry_after_s)


def test_a_frozen_database_fails_the_ping_within_its_timeout() -> None:
    with silent_server() as hostport:
        store = FeedbackStore(_postgres(hostport).replace("?connect_timeout=1", ""))
        try:
            started = time.monotonic()
            assert store.ping(timeout=1.0) is False
            assert time.monotonic() - started < 1.5
            started = time.monotonic()
            assert store.ping(timeout=1.0) is False  # the first is still stuck: no second thread
            assert time.monotonic() - started < 0.5
        finally:
            store.close()


def test_readyz_answers_503_quickly_while_the_database_is_frozen(client: TestClient) -> None:
    with silent_server() as hostport:
        _swap_store(client, _postgres(hostport).replace("?connect_timeout=1", ""))
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert "feedback store unreachable" in response.text
    assert took < 3.0  # the issue measured ~10 s
