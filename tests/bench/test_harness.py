"""Fast checks of the benchmark's floor app, FHIR stub and report logic (no servers started)."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from bench import run
from bench.fhir_stub import Store
from bench.floor import CARDS_BODY, app
from bench.generate import make_request


def _post(body: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
            return await client.post("/cds-services/mbc-treatment-options", content=body)

    return asyncio.run(go())


def test_floor_answers_fixed_cards():
    resp = _post(orjson.dumps(make_request(1)))
    assert resp.status_code == 200
    assert resp.content == CARDS_BODY
    assert 1500 <= len(CARDS_BODY) <= 2500
    assert len(resp.json()["cards"]) == 3


def test_floor_rejects_bad_json():
    assert _post(b"{not json").status_code == 400
    assert _post(b"[]").status_code == 400


def test_fhir_stub_answers_the_service_queries(tmp_path):
    base = "http://127.0.0.1:9/fhir"
    reqs = [make_request(i, prefetch=False, fhir_base=base) for i in range(3)]
    data = tmp_path / "stub.ndjson"
    data.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in reqs))
    store = Store(data, base)
    pid = reqs[0]["context"]["patientId"]

    status, body = store.answer(f"/fhir/Patient/{pid}")
    assert status == 200
    assert orjson.loads(body)["id"] == pid

    status, body = store.answer(f"/fhir/Condition?patient={pid}")
    bundle = orjson.loads(body)
    assert status == 200
    assert bundle["type"] == "searchset"
    assert bundle["total"] == len(reqs[0]["_bench_bundles"]["conditions"]["entry"])

    status, body = store.answer(f"/fhir/Observation?patient=Patient/{pid}&code=http://loinc.org|21908-9")
    bundle = orjson.loads(body)
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["code"]["coding"][0]["code"] == "21908-9"

    assert store.answer("/fhir/Patient/nobody")[0] == 404
    assert orjson.loads(store.answer("/fhir/Procedure?patient=nobody")[1])["total"] == 0
    assert store.answer("/fhir/Encounter?patient=x")[0] == 404


def test_evaluate_computes_ratios_against_same_run_floor():
    row = {"p50_ms": 1.0, "max_ms": 9.0, "errors": {}, "size": "5-30"}
    res = {
        "config": {"workers": [1], "connections": 16},
        "throughput": [
            {"name": "floor-w1", "kind": "floor", "workers": 1, "rps": 2000.0, "p99_ms": 10.0, **row},
            {
                "name": "service-w1",
                "kind": "service",
                "workers": 1,
                "rps": 1200.0,
                "p99_ms": 20.0,
                "startup_s": 1.2,
                **row,
            },
            {"name": "healthchain-w1", "kind": "peer", "workers": 1, "rps": 400.0, "p99_ms": 40.0, **row},
        ],
        "scaling": [
            {"kind": "service", "resources": 100, "p50_ms": 2.5},
            {"kind": "service", "resources": 1000, "p50_ms": 10.0},
            {"kind": "service", "resources": 10000, "p50_ms": 100.0},
        ],
    }
    checks = {c["target"]: c for c in run.evaluate(res)}
    at = "5-30 resources, 1 worker(s)"
    assert checks[f"(info) throughput service/floor, {at}"]["value"] == 0.6
    assert checks[f"(info) throughput service/floor, {at}"]["pass"] is None  # information, not a target
    assert checks[f"throughput service/HealthChain, {at}"]["value"] == 3.0
    assert checks[f"throughput service/HealthChain, {at}"]["pass"] is True
    assert checks[f"p99 service/floor at 16 conn, {at}"]["value"] == 2.0
    assert checks["throughput service/HealthChain, 100 resources, 1 worker(s)"]["value"] is None  # not run
    assert checks["single connection, 100 resources, p50 ms"]["pass"] is True
    assert checks["growth p50(10,000)/p50(1,000) (10 = linear)"]["value"] == 10.0
    assert checks["start-up to first answered call, s (slowest start)"]["pass"] is True
