"""The answer and the work of a call are bounded by design (issue 23 item 1): problems in the data are
counted, not repeated, and a request of millions of tiny values is refused before it is decoded."""

from __future__ import annotations

import copy
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.fixtures_support import SERVICE_PATH, load_scenarios

JSON = {"Content-Type": "application/json"}
SCENARIO = next(s for s in load_scenarios() if s.name == "hr-pos-her2-neg-second-line-after-ai-cdk46")


def with_empty_entries(n: int) -> bytes:
    """The scenario with ``n`` Bundle entries that hold no resource (``{}``) among its observations."""
    request: dict[str, Any] | None = copy.deepcopy(SCENARIO.request)
    assert request is not None
    observations = request["prefetch"]["observations"]
    marker = '"entry": ["__EMPTY__"'
    observations["entry"] = ["__EMPTY__", *observations["entry"]]
    body = orjson.dumps(request).decode().replace('"entry":["__EMPTY__"', marker)
    return body.replace(marker, '"entry":[' + ",".join(["{}"] * n)).encode()


def measured(post: Callable[[], Any]) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        response = post()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return response, peak / 1e6


def test_200000_empty_entries_make_one_issue_and_a_small_answer(client: TestClient) -> None:
    body = with_empty_entries(200_000)
    assert 500_000 < len(body) < 1_000_000
    response, peak_mb = measured(lambda: client.post(SERVICE_PATH, content=body, headers=JSON))
    assert response.status_code == 200, response.text
    assert len(response.content) < 100_000
    assert response.json()["cards"], "the chart's cards are still given"
    assert b"200,000 Bundle entries held no resource" in response.content
    assert response.content.count(b"Bundle entry") == 0  # never one line per entry
    assert peak_mb < 50, f"{peak_mb:.0f} MB"


def test_3000000_empty_entries_are_refused_with_a_small_answer(client: TestClient) -> None:
    body = with_empty_entries(3_000_000)
    assert 8_000_000 < len(body) < 10_000_000  # under the body limit
    response, peak_mb = measured(lambda: client.post(SERVICE_PATH, content=body, headers=JSON))
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"
    assert len(response.content) < 100_000
    assert peak_mb < 50, f"{peak_mb:.0f} MB"
