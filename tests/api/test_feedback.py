"""Feedback (spec 1.7): validated, stored durably, once, mapped back to the rule that made the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.pathway.ids import card_uuid
from cds.store import FeedbackStore
from tests.fixtures_support import SERVICE_PATH, make_settings

FEEDBACK = f"{SERVICE_PATH}/feedback"
RULE = "hr-pos-postmenopausal-ai-cdk46"


def overridden(card: str, **reason: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}
    if reason:
        item["overrideReason"] = reason
    return item


def report(tmp_path: Path) -> dict[str, Any]:
    store = FeedbackStore(make_settings(tmp_path).resolved_database_url)
    try:
        return {r.rule_id: r for r in store.report()}
    finally:
        store.close()


def test_feedback_is_stored_once_and_mapped_to_its_rule(client: TestClient, tmp_path: Path) -> None:
    card = card_uuid(RULE)
    # the Sandbox sends {code, system} without display
    item = overridden(
        card, reason={"code": "patient-preference", "system": "https://cds-mbc.example.org/override-reason"}
    )
    first = client.post(FEEDBACK, json={"feedback": [item]})
    assert first.status_code == 200
    assert first.json() == {"received": 1, "stored": 1}
    again = client.post(FEEDBACK, json={"feedback": [item]})
    assert again.status_code == 200
    assert again.json() == {"received": 1, "stored": 0}
    summary = report(tmp_path)[RULE]
    assert summary.overridden == 1
    assert summary.accepted == 0


def test_feedback_survives_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    item = overridden(card_uuid(RULE))
    with TestClient(create_app(settings)) as client:
        assert client.post(FEEDBACK, json={"feedback": [item]}).json()["stored"] == 1
    with TestClient(create_app(settings)) as client:  # a new process reading the same database
        assert client.post(FEEDBACK, json={"feedback": [item]}).json()["stored"] == 0
    assert report(tmp_path)[RULE].overridden == 1


def test_accepted_feedback_with_suggestions(client: TestClient, tmp_path: Path) -> None:
    item = {
        "card": card_uuid(RULE),
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "6e1f0e5c-3f5d-4c43-9a35-5cfb2c4a8d11"}],
        "outcomeTimestamp": "2026-11-20T10:00:00+01:00",
    }
    assert client.post(FEEDBACK, json={"feedback": [item]}).status_code == 200
    assert report(tmp_path)[RULE].accepted == 1


def test_feedback_on_a_card_this_service_did_not_issue_is_kept_without_a_rule(client: TestClient) -> None:
    response = client.post(FEEDBACK, json={"feedback": [overridden("3fa85f64-5717-4562-b3fc-2c963f66afa6")]})
    assert response.status_code == 200
    assert response.json()["stored"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": []},
        {"feedback": "x"},
        {"feedback": [{"outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z"}]},
        {"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-20T10:00:00Z"}]},
        {"feedback": [{"card": "c", "outcome": "overridden"}]},
        {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]},
        {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00"}]},
        {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": 1763632800}]},
        {
            "feedback": [
                {"card": "c", "outcome": "overridden", "outcomeTimestamp": "0001-01-01T00:00:00+05:00"}
            ]
        },
        {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-20T10:00:00Z"}]},
        {
            "feedback": [
                {
                    "card": "c",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-20T10:00:00Z",
                    "overrideReason": {},
                }
            ]
        },
    ],
)
def test_malformed_feedback_is_400_and_stores_nothing(client: TestClient, tmp_path: Path, body: Any) -> None:
    response = client.post(FEEDBACK, json=body)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert report(tmp_path) == {}


def test_malformed_json_feedback_is_400(client: TestClient) -> None:
    response = client.post(FEEDBACK, content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
