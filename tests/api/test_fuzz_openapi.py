"""Fuzz the HTTP API from its own OpenAPI description (schemathesis): never a 5xx, every error a
documented status with an OperationOutcome body.

Valid and invalid requests are generated from /openapi.json (positive and negative modes). Most
calls name the real service id so the bodies reach the parser instead of stopping at a 404. The app
runs with CDS_AUTH=off here (tests/auth covers authentication); a second, smaller run with auth on
shows every anonymous call is a 401 OperationOutcome.
"""

from __future__ import annotations

import json
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case, GenerationMode

from cds.api.openapi import DOCUMENTED_ERROR_STATUSES
from cds.app import create_app
from cds.settings import Settings

pytestmark = pytest.mark.slow  # minutes: run by the README's test command and .ci/run, not while iterating

SERVICE_ID = "mbc-treatment-options"
EXAMPLES_PER_OPERATION = 1200  # x 5 operations x 2 generation modes: a few thousand calls
STATUSES: Counter[tuple[str, int]] = Counter()


def _app(tmp: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "auth": "off",
        "data_dir": tmp,
        "public_base_url": "http://testserver",
        "max_body_bytes": 64 * 1024,
        "log_level": "ERROR",
    }
    values.update(overrides)
    return create_app(Settings(**values))


# Built at import: schemathesis makes one test per operation at collection time. The folder holds
# the feedback database and is removed when the interpreter exits.
_DATA = tempfile.TemporaryDirectory(prefix="cds-fuzz-")
APP = _app(Path(_DATA.name))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES_PER_OPERATION
)


def assert_documented(case: Case, response: Any) -> None:
    status = response.status_code
    STATUSES[(case.operation.label, status)] += 1
    assert status < 500, f"{case.operation.label} -> {status}: {response.text[:500]}"
    if 200 <= status < 300:
        return
    assert status in DOCUMENTED_ERROR_STATUSES, f"{case.operation.label} -> undocumented {status}"
    body = json.loads(response.content)
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"] and all(issue.get("severity") and issue.get("code") for issue in body["issue"])
    assert response.headers["x-content-type-options"] == ["nosniff"]


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as generated
    derandomize=True,  # the same cases on every run: CI failures reproduce
    database=None,
)
def test_no_5xx_and_only_documented_operation_outcomes(case: Case) -> None:
    if "service_id" in (case.path_parameters or {}) and zlib.crc32(repr(case.body).encode()) % 8:
        case.path_parameters = {**(case.path_parameters or {}), "service_id": SERVICE_ID}
    response = case.call()
    assert_documented(case, response)
    if response.status_code < 300:
        case.validate_response(response)  # the 2xx body matches the declared schema


# --- the same API with authentication on: every anonymous CDS call is a bare 401 -----------------

_TRUST = Path(_DATA.name) / "trust.json"
_TRUST.write_text(
    json.dumps(
        {"issuers": [{"iss": "https://ehr.example.org", "jwks_url": "https://ehr.example.org/jwks.json"}]}
    )
)
(Path(_DATA.name) / "secured").mkdir()
secured_schema = schemathesis.openapi.from_asgi(
    "/openapi.json", _app(Path(_DATA.name) / "secured", auth="jwt", trust_file=_TRUST)
)
secured_schema.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=40)
OPEN_PATHS = {"/healthz", "/readyz"}


@secured_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_with_auth_on_anonymous_calls_get_a_bare_401(case: Case) -> None:
    response = case.call()
    assert_documented(case, response)
    if case.operation.path in OPEN_PATHS or response.status_code == 405:
        return
    assert response.status_code == 401
    assert json.loads(response.content)["issue"] == [
        {"severity": "error", "code": "login", "diagnostics": "Unauthorized"}
    ]


def test_the_fuzz_reached_every_kind_of_answer() -> None:
    """Runs after the fuzz tests (file order): the generated cases exercised the parser, not just 404s."""
    if not STATUSES:
        pytest.skip("run together with the fuzz tests")
    seen = {status for (_, status) in STATUSES}
    assert {200, 400, 404, 412} <= seen, sorted(STATUSES.items())
    assert sum(STATUSES.values()) >= 2000, sum(STATUSES.values())
