"""A call to a wrong URL under /cds-services is visible in the service log: one call line (issue 22).

The CDS Hooks Sandbox builds each service's URL as ``<discovery URL>/<id>``: given
``http://localhost:8080/cds-services/`` it calls ``/cds-services//mbc-treatment-options``, a 404 that
matched no route and so used to leave no line at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds.app import create_app
from cds.observability import MAX_PATH_SHOWN
from tests.fixtures_support import hook_request, make_settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield test_client


def call_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cds.call"]


def test_the_sandbox_call_after_a_trailing_slash_logs_one_line_with_the_hint(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.call")
    answer = client.post("/cds-services//mbc-treatment-options", json=hook_request())
    assert answer.status_code == 404
    [line] = call_lines(caplog)
    assert line.levelno == logging.INFO
    assert vars(line)["endpoint"] == "POST /cds-services//mbc-treatment-options"
    assert vars(line)["status"] == 404
    message = line.getMessage()
    assert message.startswith("POST /cds-services//mbc-treatment-options 404 in ")
    assert "trailing slash: use .../cds-services" in message
    assert vars(line)["hint"] in message


def test_an_unmatched_cds_path_is_logged_shortened_without_its_query_and_others_are_not(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cds.call")
    assert client.get("/no-such-page//x").status_code == 404  # not a CDS path: no call line
    long_path = "/cds-services/mbc-treatment-options/x/" + "y" * 200
    assert client.get(long_path + "?patient=secret-id").status_code == 404
    [line] = call_lines(caplog)
    endpoint = vars(line)["endpoint"]
    assert endpoint == "GET " + long_path[:MAX_PATH_SHOWN] + "..."
    assert "secret-id" not in line.getMessage() and "hint" not in vars(line)
