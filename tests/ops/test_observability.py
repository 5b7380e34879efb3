from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from hypothesis import given, settings
from hypothesis import strategies as st

from cds import observability as obs

ROOT = Path(__file__).resolve().parents[2]
TOKEN = jwt.encode({"iss": "ehr", "sub": "patient-123", "aud": "x"}, "s" * 32, algorithm="HS256")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, object]]]]:
    root = logging.getLogger()
    old_level = root.level
    obs.configure_logging("DEBUG")

    def lines() -> list[dict[str, object]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line.strip()]

    yield lines
    for handler in list(root.handlers):
        if handler.get_name() == "cds-json":
            root.removeHandler(handler)
    root.setLevel(old_level)


def test_one_json_object_per_line_with_request_context(json_logs) -> None:
    log = logging.getLogger("cds.test")
    rid = obs.request_id_var.set("req-42")
    hid = obs.hook_instance_var.set("d1577c69-dfbe-44ad-ba6d-3e05e953b2ea")
    try:
        log.info("evaluated %d rules", 3, extra={"cards": 2})
    finally:
        obs.request_id_var.reset(rid)
        obs.hook_instance_var.reset(hid)
    log.warning("outside a request")
    first, second = json_logs()
    assert first["msg"] == "evaluated 3 rules"
    assert first["level"] == "INFO"
    assert first["logger"] == "cds.test"
    assert first["request_id"] == "req-42"
    assert first["hook_instance"] == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
    assert first["cards"] == 2
    assert str(first["ts"]).endswith("+00:00")
    assert "request_id" not in second


def test_configure_logging_is_idempotent(json_logs) -> None:
    obs.configure_logging("INFO")
    obs.configure_logging("INFO")
    logging.getLogger("cds.test").info("once")
    assert [line["msg"] for line in json_logs()] == ["once"]


def test_debug_is_dropped_at_info(json_logs) -> None:
    obs.configure_logging("INFO")
    logging.getLogger("cds.test").debug("noise")
    assert json_logs() == []


def test_uvicorn_logs_through_ours_but_writes_no_access_log(json_logs) -> None:
    """uvicorn's errors reach the JSON log; its access log stays off (cds-mbc serve asks for none): no
    handler up the access logger's chain, so uvicorn does not even format a line per request."""
    obs.configure_logging("INFO")
    logging.getLogger("uvicorn.error").warning("port busy")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/x", "1.1", 200
    )
    assert [line["msg"] for line in json_logs()] == ["port busy"]
    assert not logging.getLogger("uvicorn.access").hasHandlers()


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        obs.configure_logging("LOUD")


def test_tokens_never_reach_the_log(json_logs) -> None:
    log = logging.getLogger("cds.auth.test")
    log.warning("rejected header Authorization: Bearer %s", TOKEN)
    log.warning("jwt in args: %s", TOKEN)
    log.warning("query", extra={"url": f"https://fhir.example/Patient?access_token={TOKEN}"})
    log.warning("opaque bearer: Bearer abc123opaque")
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("verification failed")
    out = json_logs()
    raw = json.dumps(out)
    assert TOKEN not in raw
    for part in TOKEN.split("."):
        assert part not in raw
    assert "abc123opaque" not in raw
    assert len(out) == 5
    assert out[0]["msg"] == "rejected header Authorization: Bearer [REDACTED]"
    assert out[4]["exc_type"] == "ValueError"
    assert "[REDACTED]" in str(out[4]["exc"])


@pytest.mark.parametrize(
    "text",
    [
        "loaded 12 rules from cds.store.migrations",
        "card uuid 0191e7a3-5c4b-8f00-9a1b-2c3d4e5f6a7b for rule endocrine-first-line",
        "GET /cds-services/mbc-therapy 200 in 3.2 ms",
        "fhirServer https://ehr.example.org/fhir/R4 answered 404",
    ],
)
def test_ordinary_messages_are_not_redacted(text: str) -> None:
    assert obs.redact(text) == text


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer " + TOKEN,
        TOKEN,
        "aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbb.cccccccccccccccccccccc",
        '"access_token": "opaque-token-value"',
        "password=hunter2hunter2",
        "CLIENT_SECRET=hunter2hunter2",
        "AUTHORIZATION: Basic hunter2hunter2",
        "bEaReR hunter2hunter2",
    ],
)
def test_secret_shapes_are_redacted(secret: str) -> None:
    out = obs.redact(f"before {secret} after")
    assert "[REDACTED]" in out
    assert out.startswith("before ")
    assert out.endswith(" after") or out.endswith("after")
    assert "hunter2" not in out and "opaque-token-value" not in out and TOKEN not in out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Bearer ",
                "bearer\t",
                "eyJ",
                "EYJ",
                "token",
                "Access_Token",
                "=",
                ":",
                '"',
                " ",
                ".",
                "-",
                "Authorization",
                "Basic ",
                "client_secret",
                "PASSWORD",
                "a" * 8,
                "Z9_",
                "x" * 16,
                "/",
                "~",
            ]
        ),
        max_size=14,
    ).map("".join)
)
def test_the_quick_screen_never_skips_a_secret(text: str) -> None:
    """``redact`` returns text unchanged when a cheap screen finds nothing suspect; the screen must pass
    everything any of the redaction patterns would change."""
    substituted = text
    for pattern, replacement in obs.REDACTIONS:
        substituted = pattern.sub(replacement, substituted)
    assert obs.redact(text) == substituted


def _value(name: str, labels: dict[str, str]) -> float:
    return obs.METRICS.registry.get_sample_value(name, labels) or 0.0


def test_helpers_update_the_exposed_metrics() -> None:
    before_req = _value("cds_http_request_duration_seconds_count", {"endpoint": "/t/{id}", "status": "200"})
    before_cards = _value("cds_cards_returned_total", {"rule_id": "rule-x"})
    before_fail = _value("cds_fhir_fetch_failures_total", {"reason": "timeout"})
    before_ok = _value("cds_fhir_fetch_duration_seconds_count", {"outcome": "ok"})
    before_fb = _value("cds_feedback_outcomes_total", {"rule_id": "rule-x", "outcome": "overridden"})

    obs.observe_request("/t/{id}", 200, 0.012)
    obs.count_cards(["rule-x", "rule-x"])
    obs.observe_fhir_fetch(0.3, ok=False, reason="timeout")
    obs.observe_fhir_fetch(0.1, ok=True)
    obs.count_feedback("rule-x", "overridden")

    assert _value("cds_http_request_duration_seconds_count", {"endpoint": "/t/{id}", "status": "200"}) == (
        before_req + 1
    )
    assert _value("cds_cards_returned_total", {"rule_id": "rule-x"}) == before_cards + 2
    assert _value("cds_fhir_fetch_failures_total", {"reason": "timeout"}) == before_fail + 1
    assert _value("cds_fhir_fetch_duration_seconds_count", {"outcome": "ok"}) == before_ok + 1
    fb = _value("cds_feedback_outcomes_total", {"rule_id": "rule-x", "outcome": "overridden"})
    assert fb == before_fb + 1

    body, content_type = obs.render_metrics()
    assert content_type.startswith("text/plain")
    assert b'cds_http_request_duration_seconds_bucket{endpoint="/t/{id}",le="0.025",status="200"}' in body


def test_metrics_are_not_in_the_global_registry() -> None:
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("cds_cards_returned_total", {"rule_id": "rule-x"}) is None


def test_route_template_uses_the_matched_route_not_the_raw_path() -> None:
    app = FastAPI()
    seen: list[str] = []

    @app.get("/cds-services/{service_id}")
    async def service(service_id: str, request: Request) -> dict[str, str]:
        seen.append(obs.route_template(request))
        return {"id": service_id}

    async def call() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/cds-services/patient-123")
            assert response.status_code == 200

    asyncio.run(call())
    assert seen == ["/cds-services/{service_id}"]
    assert obs.route_template({"path": "/random"}) == "(unmatched)"


def test_multiprocess_mode_aggregates_workers(tmp_path: Path) -> None:
    """Two 'workers' increment in their own processes; a third process's exposition sums them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    worker = textwrap.dedent(
        """
        from cds import observability as obs
        assert obs.METRICS.multiprocess
        obs.count_cards(["rule-mp"])
        obs.observe_request("/healthz", 200, 0.001)
        """
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60)  # noqa: S603
    scrape = "from cds import observability as obs; print(obs.render_metrics()[0].decode())"
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert 'cds_cards_returned_total{rule_id="rule-mp"} 2.0' in out
    assert 'cds_http_request_duration_seconds_count{endpoint="/healthz",status="200"} 2.0' in out
