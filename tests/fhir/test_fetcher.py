"""HttpFetcher against the loopback stub FHIR server: allowlist, headers, paging, faults, bounds."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cds.fhir.client import Allowlist, HttpFetcher
from cds.fhir.urls import parse_base
from cds.settings import Settings
from tests.fhir.helpers import PATIENT, TOKEN, sample_resources, searchset
from tests.servers.stub_fhir import Reply, StubFhir, running_stub

QUERIES = {
    "patient": f"Patient/{PATIENT}",
    "conditions": f"Condition?patient={PATIENT}",
    "observations": f"Observation?patient={PATIENT}",
    "medicationRequests": f"MedicationRequest?patient={PATIENT}",
    "medicationStatements": f"MedicationStatement?patient={PATIENT}",
    "procedures": f"Procedure?patient={PATIENT}",
}


def make_fetcher(allowlist: str, **overrides: Any) -> HttpFetcher:
    return HttpFetcher(Settings(auth="off", fhir_server_allowlist=allowlist, **overrides))


@pytest.fixture
def loaded(stub: StubFhir) -> StubFhir:
    stub.load(sample_resources())
    return stub


@pytest.fixture
def fetcher(loaded: StubFhir) -> Iterator[HttpFetcher]:
    f = make_fetcher(loaded.base_url)
    yield f
    f.close()


def run(
    fetcher: HttpFetcher,
    server: str,
    queries: dict[str, str] | None = None,
    *,
    token: str | None = TOKEN,
    continuations: dict[str, str] | None = None,
    budget_s: float = 4.0,
) -> dict[str, Any]:
    return fetcher.fetch(
        server=server,
        access_token=token,
        queries=queries if queries is not None else {"conditions": QUERIES["conditions"]},
        continuations=continuations or {},
        deadline=time.monotonic() + budget_s,
    )


# --- the allowlist ------------------------------------------------------------------------------------


def test_allowlist_matching_is_exact_on_origin_and_a_path_prefix() -> None:
    allow = Allowlist(["https://EHR.example.org:443/fhir/", "http://127.0.0.1:8080/r4"])

    def ok(url: str) -> bool:
        base = parse_base(url)
        return base is not None and allow.allows(base)

    assert ok("https://ehr.example.org/fhir")
    assert ok("https://ehr.example.org/fhir/tenant-a")
    assert ok("http://127.0.0.1:8080/r4")
    assert not ok("https://ehr.example.org/fhirx")  # a prefix only on a segment boundary
    assert not ok("https://ehr.example.org/")
    assert not ok("http://ehr.example.org/fhir")  # scheme matters
    assert not ok("https://ehr.example.org:8443/fhir")  # port matters
    assert not ok("https://ehr.example.org.evil.test/fhir")
    assert not ok("http://127.0.0.1:8081/r4")
    assert parse_base("https://user:pw@ehr.example.org/fhir") is None  # userinfo never accepted
    assert parse_base("https://ehr.example.org/fhir?x=1") is None
    assert parse_base("file:///etc/passwd") is None
    assert Allowlist(["*"]).allows(parse_base("http://10.0.0.1/anything"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ALLOWLIST"):
        Allowlist(["ftp://x"])


def test_a_server_not_on_the_allowlist_is_never_contacted(loaded: StubFhir) -> None:
    with running_stub() as other:
        f = make_fetcher(other.base_url)  # the loaded stub is not listed
        try:
            results = run(f, loaded.base_url, QUERIES)
        finally:
            f.close()
    assert loaded.requests == []
    for result in results.values():
        assert result.error is not None
        assert "is not on this service's CDS_FHIR_SERVER_ALLOWLIST" in result.error
        assert loaded.base_url in result.error


def test_an_empty_allowlist_contacts_nothing(loaded: StubFhir) -> None:
    f = make_fetcher("")
    try:
        results = run(f, loaded.base_url, QUERIES)
    finally:
        f.close()
    assert loaded.requests == []
    assert all("ALLOWLIST" in (r.error or "") for r in results.values())


def test_star_allows_any_server(loaded: StubFhir) -> None:
    f = make_fetcher("*")
    try:
        results = run(f, loaded.base_url, QUERIES)
    finally:
        f.close()
    assert all(r.error is None for r in results.values())


# --- what is sent ---------------------------------------------------------------------------------------


def test_bearer_token_is_sent_with_every_query(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    results = run(fetcher, loaded.base_url, QUERIES)
    assert all(r.error is None for r in results.values())
    assert sorted(s.path for s in loaded.requests) == sorted(QUERIES.values())
    assert {s.authorization for s in loaded.requests} == {f"Bearer {TOKEN}"}
    assert all("fhir+json" in s.headers.get("Accept", "") for s in loaded.requests)
    assert [r["id"] for r in results["patient"].resources] == [PATIENT]
    assert {r["id"] for r in results["observations"].resources} == {
        f"{PATIENT}-er",
        f"{PATIENT}-pr",
        f"{PATIENT}-her2",
    }


def test_no_authorization_header_without_a_token(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    results = run(fetcher, loaded.base_url, QUERIES, token=None)
    assert all(r.error is None for r in results.values())
    assert loaded.requests
    assert all(s.authorization is None for s in loaded.requests)


def test_queries_run_concurrently(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.delay_s = 0.1
    run(fetcher, loaded.base_url, QUERIES)  # warm the connection pool
    started = time.perf_counter()
    results = run(fetcher, loaded.base_url, QUERIES)
    elapsed = time.perf_counter() - started
    assert all(r.error is None for r in results.values())
    print(f"\n6 queries x 100 ms latency: fetcher took {elapsed * 1000:.0f} ms (sum would be 600 ms)")
    assert elapsed < 0.35


# --- paging ---------------------------------------------------------------------------------------------


def _many_conditions(n: int) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Condition",
            "id": f"c{i}",
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
            "subject": {"reference": f"Patient/{PATIENT}"},
        }
        for i in range(n)
    ]


def test_next_links_are_followed(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.load(_many_conditions(7), page_size=3)
    result = run(fetcher, loaded.base_url)["conditions"]
    assert result.error is None
    assert [r["id"] for r in result.resources] == [f"c{i}" for i in range(7)]
    assert len(loaded.requests) == 3
    assert result.issues == []


def test_page_limit_cuts_short_and_says_so(loaded: StubFhir) -> None:
    loaded.load(_many_conditions(10), page_size=2)
    f = make_fetcher(loaded.base_url, fhir_max_pages=3)
    try:
        result = run(f, loaded.base_url)["conditions"]
    finally:
        f.close()
    assert result.error is None  # partial data is still data
    assert len(result.resources) == 6
    assert len(loaded.requests) == 3
    assert [i.kind for i in result.issues] == ["truncated"]
    assert "first 3 pages" in result.issues[0].message


def test_resource_limit_cuts_short_and_says_so(loaded: StubFhir) -> None:
    loaded.load(_many_conditions(10), page_size=4)
    f = make_fetcher(loaded.base_url, fhir_max_resources=5)
    try:
        result = run(f, loaded.base_url)["conditions"]
    finally:
        f.close()
    assert len(result.resources) == 5
    assert [i.kind for i in result.issues] == ["truncated"]
    assert "first 5 resources" in result.issues[0].message


def test_a_next_link_to_another_server_is_not_followed(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    with running_stub() as foreign:
        page = searchset(_many_conditions(1))
        page["link"] = [{"relation": "next", "url": f"{foreign.base_url}/Condition?page=2"}]
        loaded.on("Condition", Reply(body=page))
        result = run(fetcher, loaded.base_url)["conditions"]
        assert foreign.requests == []  # and so the token never went there
    assert [r["id"] for r in result.resources] == ["c0"]
    assert [i.kind for i in result.issues] == ["truncated"]
    assert "leaves fhirServer" in result.issues[0].message


def test_continuations_are_followed_and_foreign_ones_refused(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.on("Condition?page=2", Reply(body=searchset(_many_conditions(2))))
    results = run(
        fetcher,
        loaded.base_url,
        {},
        continuations={
            "conditions": f"{loaded.base_url}/Condition?page=2",
            "procedures": "https://elsewhere.example/fhir/Procedure?page=2",
        },
    )
    assert [r["id"] for r in results["conditions"].resources] == ["c0", "c1"]
    assert results["procedures"].error is not None
    assert "outside fhirServer" in results["procedures"].error
    assert loaded.paths() == ["Condition"]


# --- faults ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(401, {"resourceType": "OperationOutcome", "issue": []}), "refused access (HTTP 401)"),
        (Reply(403, b""), "refused access (HTTP 403)"),
        (Reply(404, b""), "no such resource (HTTP 404)"),
        (Reply(500, b"oops", content_type="text/plain"), "failed (HTTP 500)"),
        (Reply(302, b"", headers={"Location": "http://127.0.0.1:9/steal"}), "redirect (HTTP 302)"),
        (Reply(body=b"<html>login</html>", content_type="text/html"), "not FHIR JSON"),
        (Reply(body=b"{not json"), "not FHIR JSON"),
        (Reply(body=b'["a list"]'), "not FHIR JSON"),
        (Reply(body={"hello": "world"}), "not FHIR JSON"),
        (Reply(body={"resourceType": "Bundle", "entry": []}), "without a type, which is not FHIR R4"),
        (Reply(body={"resourceType": "Patient", "id": PATIENT}), "answered a search with a Patient"),
        (
            Reply(body={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "db down"}]}),
            "reported a problem: db down",
        ),
        (
            Reply(body=searchset([]), content_type="application/fhir+json; fhirVersion=3.0"),
            "FHIR version 3.0",
        ),
    ],
)
def test_failures_come_back_as_clear_errors(
    fetcher: HttpFetcher, loaded: StubFhir, reply: Reply, expected: str
) -> None:
    loaded.on("Condition", reply)
    result = run(fetcher, loaded.base_url)["conditions"]
    assert result.error is not None
    assert expected in result.error
    assert result.resources == []


def test_dstu2_shaped_data_is_a_clear_error(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    dstu2 = {
        "resourceType": "Condition",
        "id": "old",
        "patient": {"reference": f"Patient/{PATIENT}"},
        "clinicalStatus": "active",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254837009"}]},
    }
    loaded.on("Condition", Reply(body=searchset([dstu2])))
    result = run(fetcher, loaded.base_url)["conditions"]
    assert result.error is not None
    assert "not FHIR R4" in result.error
    assert "DSTU2" in result.error


def test_connection_refused_is_an_error(fetcher: HttpFetcher) -> None:
    f = make_fetcher("*")
    try:
        result = run(f, "http://127.0.0.1:9/fhir")["conditions"]  # discard port: nothing listens
    finally:
        f.close()
    assert result.error == "could not connect to the FHIR server"


def test_503_then_200_is_retried(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.on(
        "Condition", Reply(503, b""), Reply(429, b"", headers={"Retry-After": "0"}), Reply(body=searchset([]))
    )
    result = run(fetcher, loaded.base_url)["conditions"]
    assert result.error is None
    assert loaded.paths() == ["Condition"] * 3


def test_no_retry_when_retry_after_exceeds_the_deadline(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.on("Condition", Reply(503, b"", headers={"Retry-After": "30"}))
    started = time.monotonic()
    result = run(fetcher, loaded.base_url, budget_s=1.0)["conditions"]
    assert time.monotonic() - started < 0.5
    assert result.error is not None
    assert "busy (HTTP 503)" in result.error
    assert len(loaded.requests) == 1


def test_a_slow_server_hits_the_per_query_timeout(loaded: StubFhir) -> None:
    loaded.on("Condition", Reply(body=searchset([]), delay_s=1.0))
    f = make_fetcher(loaded.base_url, fhir_timeout_s=0.2)
    try:
        started = time.monotonic()
        result = run(f, loaded.base_url)["conditions"]
        assert time.monotonic() - started < 0.6
    finally:
        f.close()
    assert result.error == "the FHIR server did not answer within 0.2 s"


def test_the_deadline_bounds_the_whole_call(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    loaded.on("Condition", Reply(body=searchset([]), delay_s=1.5))
    started = time.monotonic()
    results = run(fetcher, loaded.base_url, QUERIES, budget_s=0.3)
    elapsed = time.monotonic() - started
    assert elapsed < 0.6
    assert "deadline" in (results["conditions"].error or "")
    assert results["patient"].error is None


def test_a_trickling_answer_is_cut_off(loaded: StubFhir) -> None:
    loaded.on("Condition", Reply(body=searchset(_many_conditions(3)), trickle_s=0.02))
    f = make_fetcher(loaded.base_url, fhir_timeout_s=0.3)
    try:
        started = time.monotonic()
        result = run(f, loaded.base_url)["conditions"]
        assert time.monotonic() - started < 0.8
    finally:
        f.close()
    assert result.error is not None
    assert "did not answer within 0.3 s" in result.error


def test_a_huge_answer_is_refused_while_streaming(loaded: StubFhir) -> None:
    loaded.on("Condition", Reply(body=searchset(_many_conditions(400))))  # ~60 KB
    f = make_fetcher(loaded.base_url, fhir_max_response_bytes=8192)
    try:
        result = run(f, loaded.base_url)["conditions"]
    finally:
        f.close()
    assert result.error is not None
    assert "larger than this service reads (8192 bytes)" in result.error


def test_outcome_entries_and_included_resources(fetcher: HttpFetcher, loaded: StubFhir) -> None:
    bundle = searchset(_many_conditions(1))
    bundle["entry"].append(
        {
            "resource": {
                "resourceType": "OperationOutcome",
                "issue": [{"diagnostics": "some results hidden"}],
            },
            "search": {"mode": "outcome"},
        }
    )
    bundle["entry"].append(
        {"resource": {"resourceType": "Practitioner", "id": "dr"}, "search": {"mode": "include"}}
    )
    loaded.on("Condition", Reply(body=bundle))
    result = run(fetcher, loaded.base_url)["conditions"]
    assert result.error is None
    assert [r["resourceType"] for r in result.resources] == ["Condition", "Practitioner"]
    assert [i.kind for i in result.issues] == ["unreadable"]
    assert "some results hidden" in result.issues[0].message


# --- the token never leaks ------------------------------------------------------------------------------


def test_the_token_is_in_no_error_issue_or_log(
    fetcher: HttpFetcher, loaded: StubFhir, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    faults = {
        "patient": Reply(
            401, {"resourceType": "OperationOutcome", "issue": [{"diagnostics": f"bad token {TOKEN}"}]}
        ),
        "conditions": Reply(body=b"garbage"),
        "observations": Reply(500, b""),
        "medicationRequests": Reply(body=searchset([]), delay_s=2.0),
        "medicationStatements": Reply(302, b"", headers={"Location": "http://127.0.0.1:9/"}),
        "procedures": Reply(
            body={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "see header"}]}, status=200
        ),
    }
    for key, reply in faults.items():
        loaded.on(QUERIES[key].split("?")[0], reply)
    results = run(fetcher, loaded.base_url, QUERIES, budget_s=0.5)
    texts = [r.error or "" for r in results.values()] + [
        i.message for r in results.values() for i in r.issues
    ]
    assert all(r.error for r in results.values())
    assert not any(TOKEN in t for t in texts)
    assert "could not fetch prefetch key patient" in caplog.text  # the failures were logged, and
    assert TOKEN not in caplog.text  # without the token
    assert "refused access (HTTP 401)" in (results["patient"].error or "")
