"""Issue 23, finding 4: ``..`` (plain or percent-encoded), ``//`` and other spellings must not lead
the access token outside an allowlisted FHIR base. URLs are compared normalised, and the normalised
URL is the one requested."""

from __future__ import annotations

import time

import pytest

from cds.fhir.client import Allowlist, HttpFetcher
from cds.fhir.urls import parse_base, url_under
from cds.settings import Settings
from tests.servers.hostile import recording_server

TOKEN = "secret-access-token-4711"


@pytest.mark.parametrize(
    "server",
    [
        "http://h/fhir/../private",
        "http://h/fhir/%2e%2e/private",
        "http://h/fhir/%2E%2E/private",
        "http://h/fhir/.%2e/private",
        "http://h/fhir/..//private",
        "http://h/fhir//../../private",
        "http://h/fhir/sub/../../private",
        "http://H:80/fhir/./../private",
        "http://h/fhir/..;/private",
        "http://h/fhir/..%2fprivate",
        "http://h/fhir/..%5Cprivate",
        "http://h/fhir\\..\\private",
        "http://h/fhir/%252e%252e/private",
        "http://h:8080/fhir",
        "https://h/fhir",
    ],
)
def test_a_fhir_server_that_normalises_outside_the_base_is_refused(server: str) -> None:
    allow = Allowlist(["http://h/fhir"])
    base = parse_base(server)
    assert base is None or not allow.allows(base)


@pytest.mark.parametrize(
    ("server", "normalised"),
    [
        ("http://H/fhir/", "http://h/fhir"),
        ("HTTP://h:80/fhir", "http://h/fhir"),
        ("http://h/fhir//r4", "http://h/fhir/r4"),
        ("http://h/fhir/./r4/x/..", "http://h/fhir/r4"),
        ("http://h/%66hir/r4", "http://h/fhir/r4"),  # an encoded unreserved letter is that letter
    ],
)
def test_spellings_of_an_allowed_base_are_allowed_as_their_normal_form(server: str, normalised: str) -> None:
    base = parse_base(server)
    assert base is not None and Allowlist(["http://h/fhir"]).allows(base)
    assert base.url == normalised


def test_an_allowlist_entry_is_normalised_too() -> None:
    allow = Allowlist(["HTTPS://EHR.example.org:443/fhir/./r4/"])
    assert allow.allows(parse_base("https://ehr.example.org/fhir/r4"))  # type: ignore[arg-type]
    assert not allow.allows(parse_base("https://ehr.example.org/fhir"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "link",
    [
        "http://h/fhir/../private/Condition?page=2",
        "http://h/fhir/%2e%2e/private/Condition?page=2",
        "http://h/fhir//..//private?page=2",
        "http://h:80/fhir/Condition/../../private",
        "http://h:81/fhir/Condition?page=2",
    ],
)
def test_a_next_link_that_normalises_outside_the_base_is_not_followed(link: str) -> None:
    base = parse_base("http://h/fhir")
    assert base is not None
    assert url_under(link, base) is None


def test_a_next_link_inside_the_base_is_requested_in_its_normal_form() -> None:
    base = parse_base("http://h/fhir")
    assert base is not None
    assert (
        url_under("http://H:80/fhir/x/../Condition?page=2&a=..", base)
        == "http://h/fhir/Condition?page=2&a=.."
    )


def _fetch(fetcher: HttpFetcher, server: str, continuations: dict[str, str] | None = None) -> dict[str, str]:
    results = fetcher.fetch(
        server=server,
        access_token=TOKEN,
        queries={} if continuations else {"conditions": "Condition?patient=p1"},
        continuations=continuations or {},
        deadline=time.monotonic() + 3.0,
    )
    return {key: result.error or "" for key, result in results.items()}


@pytest.mark.parametrize("escape", ["..", "%2e%2e", "%2E%2e", "..//"])
def test_the_access_token_never_reaches_a_path_outside_the_allowlisted_base(escape: str) -> None:
    """The attack as run: allowlist http://host/fhir, fhirServer http://host/fhir/../private."""
    with recording_server() as server:
        fetcher = HttpFetcher(Settings(auth="off", fhir_server_allowlist=f"{server.origin}/fhir"))
        try:
            errors = _fetch(fetcher, f"{server.origin}/fhir/{escape}/private")
            next_errors = _fetch(
                fetcher,
                f"{server.origin}/fhir",
                continuations={"conditions": f"{server.origin}/fhir/{escape}/private/Condition?page=2"},
            )
            ok = _fetch(fetcher, f"{server.origin}/fhir/./")  # a harmless spelling still works
        finally:
            fetcher.close()
    assert "not on this service's CDS_FHIR_SERVER_ALLOWLIST" in errors["conditions"]
    assert "outside fhirServer" in next_errors["conditions"]
    assert ok == {"conditions": ""}
    assert server.paths() == ["/fhir/Condition?patient=p1"]  # the only request made
    assert all(not path.startswith("/private") for path in server.paths())


def test_a_next_link_with_dot_segments_in_a_page_is_not_followed() -> None:
    with recording_server() as server:
        server.body = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": f"{server.origin}/fhir/%2e%2e/private/Condition?page=2"}],
        }
        fetcher = HttpFetcher(Settings(auth="off", fhir_server_allowlist=f"{server.origin}/fhir"))
        try:
            result = fetcher.fetch(
                server=f"{server.origin}/fhir",
                access_token=TOKEN,
                queries={"conditions": "Condition?patient=p1"},
                continuations={},
                deadline=time.monotonic() + 3.0,
            )["conditions"]
        finally:
            fetcher.close()
    assert server.paths() == ["/fhir/Condition?patient=p1"]
    assert [issue.kind for issue in result.issues] == ["truncated"]


@pytest.mark.parametrize("patient_id", ["..", "%2e%2e", ".", "p1/../..", "p1//x"])
def test_a_query_built_from_an_id_that_is_no_fhir_id_is_not_sent(patient_id: str) -> None:
    """Defence in depth for issue 23 item 9: patientId '..' made the Patient read fetch the base URL."""
    with recording_server() as server:
        fetcher = HttpFetcher(Settings(auth="off", fhir_server_allowlist=f"{server.origin}/fhir"))
        try:
            result = fetcher.fetch(
                server=f"{server.origin}/fhir",
                access_token=TOKEN,
                queries={"patient": f"Patient/{patient_id}"},
                continuations={},
                deadline=time.monotonic() + 3.0,
            )["patient"]
        finally:
            fetcher.close()
    assert server.paths() == []
    assert result.error is not None and "no FHIR id can make" in result.error
